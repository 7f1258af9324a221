"""``vivait.plugin.webfon`` (also ``janus.plugin.sip``): Janus's SIP plugin API on webfon.sip.

Requests and events keep the names and fields of Janus's SIP plugin so clients written for it
(``janus.js`` + ``siptest``) work unchanged; ``register`` with ``type: "webfon"`` adds the
webphone login with a webfon token (see :mod:`gateway.plugins.sip.session`).
"""
