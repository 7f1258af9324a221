"""The WebRTC gateway: Janus JSON API (WebSocket + HTTP), plugins and the aiortc media relay.

The core (:mod:`gateway.core`) knows sessions, handles and transports; plugins
(:mod:`gateway.plugins`) know their own protocol (echo, SIP) and see media only through
:class:`gateway.media.bridge.MediaBridge`.
"""
