"""Generated gRPC stubs of the hatbot.v1 contract (tools/generate_stubs.py; do not edit)."""
