from genmill.cli import main

main()
