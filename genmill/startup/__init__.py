"""What `genmill serve` does before anything else starts: claim the port, say where it is."""
