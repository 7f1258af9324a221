"""Janus API transports: WebSocket (subprotocol ``janus-protocol``) and HTTP with long poll."""
