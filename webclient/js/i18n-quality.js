// Call-quality words (history's quality badge and "bad calls" filter, the admin's listing of
// calls with each leg's node, network and codec), Spanish first, English too; added to the
// dictionaries of i18n.js when this module is imported.

import { dictionaries } from "./i18n.js";

Object.assign(dictionaries.es, {
  "history.bad": "Mala calidad",
  "quality.mos": "MOS {mos}",
  "quality.detail": "Calidad {mos} (MOS) · pérdida {loss} % · jitter {jitter} ms · ida y vuelta {rtt} ms",
  "quality.bad": "Llamada de mala calidad",
  "nav.calls": "Calidad de llamadas",
  "calls.title": "Llamadas y calidad",
  "calls.all": "Todas", "calls.bad": "Mala calidad",
  "calls.when": "Fecha", "calls.from": "Origen", "calls.to": "Destino",
  "calls.result": "Resultado", "calls.duration": "Duración", "calls.mos": "MOS",
  "calls.loss": "Pérdida %", "calls.jitter": "Jitter ms", "calls.rtt": "Ida y vuelta ms",
  "calls.legs": "Tramos", "calls.node": "Nodo", "calls.leg": "Tramo",
  "calls.address": "Dirección", "calls.network": "Red", "calls.codec": "Códec",
  "calls.srtp": "SRTP", "calls.rx_loss": "Pérdida recibida %",
  "calls.remote_loss": "Pérdida en el extremo %", "calls.empty": "No hay llamadas.",
  "calls.more": "Cargar más", "calls.show": "Ver {n} tramos", "calls.details": "{show} (llamada {id})",
  "leg.caller": "Llamante", "leg.callee": "Llamado", "leg.webrtc": "Navegador (WebRTC)",
});

Object.assign(dictionaries.en, {
  "history.bad": "Poor quality",
  "quality.mos": "MOS {mos}",
  "quality.detail": "Quality {mos} (MOS) · loss {loss} % · jitter {jitter} ms · round trip {rtt} ms",
  "quality.bad": "Poor-quality call",
  "nav.calls": "Call quality",
  "calls.title": "Calls and quality",
  "calls.all": "All", "calls.bad": "Poor quality",
  "calls.when": "Date", "calls.from": "From", "calls.to": "To",
  "calls.result": "Result", "calls.duration": "Duration", "calls.mos": "MOS",
  "calls.loss": "Loss %", "calls.jitter": "Jitter ms", "calls.rtt": "Round trip ms",
  "calls.legs": "Legs", "calls.node": "Node", "calls.leg": "Leg",
  "calls.address": "Address", "calls.network": "Network", "calls.codec": "Codec",
  "calls.srtp": "SRTP", "calls.rx_loss": "Loss received %",
  "calls.remote_loss": "Loss at the far end %", "calls.empty": "No calls.",
  "calls.more": "Load more", "calls.show": "Show {n} legs", "calls.details": "{show} (call {id})",
  "leg.caller": "Caller", "leg.callee": "Callee", "leg.webrtc": "Browser (WebRTC)",
});
