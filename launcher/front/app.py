"""The front's aiohttp application: routes, upstreams, client configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from launcher.front.headers import security_headers
from launcher.front.proxy import Upstream
from launcher.front.settings import FrontSettings
from launcher.front.static import StaticFiles
from webfon.http import Handler, create_app
from webfon.service_url import ServiceUrl

SESSION_KEY = web.AppKey("front_client_session", aiohttp.ClientSession)

# (path prefix, upstream name); longest first does not matter as prefixes do not overlap.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/janus", "gateway"),
    ("/sercen", "sercen"),
    ("/fonbo", "fonbo"),
    ("/socket.io", "fonbo"),
)


async def build_app(settings: FrontSettings) -> web.Application:
    app = create_app("web", max_body_bytes=settings.max_body_bytes)
    app.on_response_prepare.append(security_headers(settings.hsts))
    holder: dict[str, Upstream] = {}
    urls = {"gateway": settings.gateway_url, "sercen": settings.sercen_url,
            "fonbo": settings.fonbo_url}

    async def client_session(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        app[SESSION_KEY] = session
        sessions = [session]
        proxies = settings.trusted_proxy_networks()
        for name, url in urls.items():
            target = ServiceUrl.parse(url)
            own = session
            if target.unix_path is not None:  # an upstream on a Unix socket: its own pool
                own = aiohttp.ClientSession(connector=target.connector(limit=0),
                                            cookie_jar=aiohttp.DummyCookieJar())
                sessions.append(own)
            holder[name] = Upstream(name, url, own, settings.upstream_timeout_s,
                                    settings.connect_timeout_s, proxies,
                                    settings.max_ws_message_bytes)
        yield
        for each in sessions:
            await each.close()

    app.cleanup_ctx.append(client_session)

    def dispatch(name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await holder[name].handle(request)
        return handler

    for prefix, name in ROUTES:
        app.router.add_route("*", prefix, dispatch(name))
        app.router.add_route("*", prefix + "/{tail:.*}", dispatch(name))

    client_config = {
        "title": settings.app_title,
        "janus": "/janus",
        "sercen": "/sercen",
        "fonbo": "/fonbo",
        "socketio": "/socket.io/",
        "iceServers": settings.ice_server_list(),
        "language": settings.default_language,
    }

    async def config(request: web.Request) -> web.Response:
        return web.json_response(client_config, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/config.json", config)
    static = StaticFiles(settings.static_dir)
    app.router.add_get("/{path:.*}", static.handle)
    return app
