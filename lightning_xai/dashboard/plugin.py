"""The "XAI" tab of TensorBoard: a dynamic plugin that serves its own page and data.

TensorBoard loads it through the ``tensorboard_plugins`` entry point of this package. It
reads the event files under ``--logdir`` itself (every picture of every epoch, whatever
``--samples_per_plugin`` says) and serves:

- ``/index.js``, ``/dashboard.css``: the page (plain files, no build step);
- ``/runs``: ``{"runs": [name]}``, the runs with ``xai/`` data;
- ``/index?run=R``: the run's epochs, grids and charts (:func:`~.views.run_index`);
- ``/images?run=R&tag=T...&step=S...``: ``{tag: {step: base64 PNG}}`` (no ``step``: all).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tensorboard.plugins import base_plugin
from werkzeug import Request, Response

from lightning_xai.dashboard import STATIC
from lightning_xai.dashboard.store import LogStore
from lightning_xai.dashboard.views import image_batch, run_index

__all__ = ["XaiPlugin"]

_TYPES = {".js": "text/javascript", ".css": "text/css"}


class XaiPlugin(base_plugin.TBPlugin):
    """TensorBoard plugin "xai" over ``context.logdir``.

    Args:
        context: TensorBoard's ``TBContext`` (only ``logdir`` is used).
    """

    plugin_name = "xai"

    def __init__(self, context: base_plugin.TBContext) -> None:
        self.store = LogStore(context.logdir or ".")

    def get_plugin_apps(self) -> dict[str, Callable[..., Any]]:
        routes = {
            "/index.js": self._static,
            "/dashboard.css": self._static,
            "/runs": self._runs,
            "/index": self._index,
            "/images": self._images,
        }
        return {route: _wsgi(handler) for route, handler in routes.items()}

    def is_active(self) -> bool:
        return bool(self.store.runs())

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="XAI")

    def _static(self, request: Request) -> Response:
        path = STATIC / request.path.rsplit("/", 1)[-1]
        return Response(path.read_bytes(), content_type=_TYPES[path.suffix])

    def _runs(self, request: Request) -> Response:
        return _json({"runs": self.store.runs()})

    def _index(self, request: Request) -> Response:
        run = request.args.get("run", "")
        try:
            return _json(run_index(run, self.store.run(run)))
        except KeyError:
            return Response(f"no run {run!r}", status=404)

    def _images(self, request: Request) -> Response:
        run = request.args.get("run", "")
        steps = request.args.getlist("step", type=int) or None
        try:
            log = self.store.run(run)
        except KeyError:
            return Response(f"no run {run!r}", status=404)
        return _json(image_batch(log, request.args.getlist("tag"), steps))


def _wsgi(handler: Callable[[Request], Response]) -> Callable[..., Any]:
    """A WSGI application answering each request with ``handler(request)``."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return handler(Request(environ))(environ, start_response)

    return application


def _json(body: object) -> Response:
    return Response(json.dumps(body), content_type="application/json")
