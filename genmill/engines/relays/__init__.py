"""Relay engines: models served by another backend (a Siray-compatible API, a
MoneyPrinterTurbo server, ComfyUI) that genmill submits to, polls and copies outputs from.

This package holds what the API and the models file need (entries, params, the upstream
protocols over aiohttp in relays/http.py); nothing here imports torch. The waiting happens
in the relay runner (`genmill/worker/relay_runner.py`), never in a CPU or GPU worker.
"""
