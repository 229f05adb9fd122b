// The demo page's script: (1) fetch a key from the token endpoint and show it redacted with a live countdown,
// and with a real upstream open a WebRTC call with it; (2) open a call through the server's /session, no key in
// the browser. Call states and errors are words, not raw RTCPeerConnection states. No framework, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let config = null;
  let secret = null; // the key itself: only ever sent to the Realtime API to open the call
  let expiresAt = 0; // seconds since the epoch, server time
  let skewMs = 0; // server clock minus this browser's clock, from the Date header
  let countdownTimer = null;
  const retryTimers = new Map(); // element id -> its live "try again in N s" timer

  // Same rule as the server's logs: prefix up to the first "_" or "-", then "...", then the last 4 characters.
  function redact(value) {
    if (!value) return "<none>";
    if (value.length < 12) return "***";
    const cut = Math.max(value.indexOf("_"), value.indexOf("-"));
    const prefix = cut > 0 && cut < 8 ? value.slice(0, cut + 1) : "";
    return `${prefix}...${value.slice(-4)}`;
  }

  // GA answers carry value/expires_at at the top; beta (and bridged) answers inside client_secret.
  function keyOf(body) {
    if (body && typeof body.value === "string") return { value: body.value, expiresAt: body.expires_at };
    const nested = body && body.client_secret;
    if (nested && typeof nested.value === "string") return { value: nested.value, expiresAt: nested.expires_at };
    return null;
  }

  function withoutSecret(body) {
    const copy = JSON.parse(JSON.stringify(body));
    if (typeof copy.value === "string") copy.value = redact(copy.value);
    if (copy.client_secret && typeof copy.client_secret.value === "string") {
      copy.client_secret.value = redact(copy.client_secret.value);
    }
    return copy;
  }

  const offline = () => config.upstream === "emulator";
  const budgetText = (limit) => (limit ? limit.split(";").join(", ") : "off");

  // -- readable errors: one sentence, at most one retry hint (the page's own, counting down) --------------------

  // The server's messages may end with their own hint ("...: try again in 55 s."); the page gives one instead.
  const SERVER_HINT = /\s*[:;,.]?\s*try again\b.*$/i;

  function asSentence(text) {
    const trimmed = text.trim().replace(/[.\s]+$/, "");
    return trimmed ? `${trimmed[0].toUpperCase()}${trimmed.slice(1)}.` : "";
  }

  // What a refused request means for the person at the page: {sentence, retryAfter, detail}.
  function refusal(response, body, what) {
    const error = (body && body.error) || {};
    const code = typeof error.code === "string" ? error.code : "";
    const retryAfter = Number(response.headers.get("Retry-After") || error.retry_after || 0);
    const message = String(error.message || response.statusText || "the request failed").replace(SERVER_HINT, "");
    let sentence = message;
    if (response.status === 401) {
      sentence = config.auth === "bearer" ? "The server needs a valid bearer token: enter it under Settings" : message;
    } else if (code === "rate_limited") {
      const budget = (config.budgets || {})[what];
      sentence = `Too many ${what} from this client for now${budget ? ` (budget ${budgetText(budget)})` : ""}`;
    } else if (code === "origin_not_allowed") {
      sentence = "This page's origin may not use the server (server.cors_origins)";
    }
    const field = error.param ? `, field ${error.param}` : "";
    return {
      sentence: asSentence(sentence) || (response.status >= 500 ? "The server cannot answer now." : "The server refused the request."),
      retryAfter,
      detail: `HTTP ${response.status}${code ? ` ${code}` : ""}${field}`,
    };
  }

  // fetch() itself failed: the request never got an answer the page may read.
  function unreachable(path, error) {
    return {
      sentence: `Could not reach the server at ${path}: the browser blocked the request (CORS) or the network is down.`,
      retryAfter: 0,
      detail: error.message,
    };
  }

  function showProblem(elementId, problem) {
    const element = $(elementId);
    clearInterval(retryTimers.get(elementId));
    element.hidden = false;
    element.className = "error";
    element.setAttribute("role", "alert");
    element.textContent = "";
    element.append(`${problem.sentence} `);
    const hint = document.createElement("span");
    hint.className = "hint";
    element.append(hint);
    if (problem.detail) {
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = ` (${problem.detail})`;
      element.append(detail);
    }
    if (!(problem.retryAfter > 0)) return;
    const until = Date.now() + problem.retryAfter * 1000;
    const render = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      hint.textContent = left > 0 ? `Try again in ${left} s.` : "You can try again now.";
      if (left <= 0) clearInterval(retryTimers.get(elementId));
    };
    render();
    retryTimers.set(elementId, setInterval(render, 250));
  }

  function clearProblem(elementId) {
    clearInterval(retryTimers.get(elementId));
    const element = $(elementId);
    element.textContent = "";
    element.className = "";
    if (element.id !== "status") element.hidden = true;
  }

  function setStatus(text) {
    clearProblem("status");
    $("status").setAttribute("role", "status");
    $("status").textContent = text;
  }

  // -- 1: mint a key -------------------------------------------------------------------------------------------

  function tick() {
    const remaining = Math.floor(expiresAt - (Date.now() + skewMs) / 1000);
    const countdown = $("countdown");
    if (remaining > 0) {
      countdown.textContent = `${remaining} s left`;
      countdown.className = "";
    } else {
      countdown.textContent = "expired: mint a new key";
      countdown.className = "expired";
      $("call").disabled = true;
      clearInterval(countdownTimer);
    }
  }

  function authHeaders(headers) {
    const token = $("token").value.trim();
    if (config.auth === "bearer" && token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async function mint(event) {
    event.preventDefault();
    setStatus("Minting…");
    $("mint").disabled = true;
    const payload = {};
    if (config.browser_fields.includes("voice")) payload.voice = $("voice").value;
    try {
      let response;
      try {
        response = await fetch(config.token_path, {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/json" }),
          body: JSON.stringify(payload),
          cache: "no-store",
          credentials: "same-origin",
        });
      } catch (error) {
        showProblem("status", unreachable(config.token_path, error));
        return;
      }
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        showProblem("status", refusal(response, body, "keys"));
        return;
      }
      const key = keyOf(body);
      if (!key) {
        showProblem("status", { sentence: "The endpoint answered without a key.", retryAfter: 0, detail: "" });
        return;
      }
      const date = Date.parse(response.headers.get("Date") || "");
      skewMs = Number.isNaN(date) ? 0 : date - Date.now();
      secret = key.value;
      expiresAt = key.expiresAt;
      $("key").textContent = redact(secret);
      $("expiry").textContent = `(at ${new Date(expiresAt * 1000).toLocaleTimeString()})`;
      $("session").textContent = JSON.stringify(withoutSecret(body), null, 2);
      $("result").hidden = false;
      $("call").disabled = !config.calls_url || Boolean(keyCall.peer);
      setStatus(offline() ? "Key minted by the emulator." : "Key minted.");
      clearInterval(countdownTimer);
      tick();
      countdownTimer = setInterval(tick, 250);
    } finally {
      $("mint").disabled = false;
    }
  }

  // -- the live call: level meters, transcript, tool calls and the event log of the oai-events channel -------

  const MAX_LOG = 300; // entries kept in the event log (older ones drop off the top)
  const MAX_LINES = 200; // transcript lines and tool calls kept
  const MAX_TEXT = 2000; // characters a transcript line or a tool call shows (a runaway stream stops growing it)

  // Keeps the last `max` entries of a list and of the map that finds them by key (oldest go first).
  function bounded(list, max, byKey) {
    while (list.children.length > max) list.firstElementChild.remove();
    if (byKey) {
      for (const [key, entry] of byKey) {
        if (byKey.size <= max) break;
        if (!entry.isConnected) byKey.delete(key);
      }
    }
  }

  const clip = (text) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);

  // A level meter for one stream: an AnalyserNode's RMS, read ten times a second.
  function makeMeter(context, stream, meterId) {
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    const source = context.createMediaStreamSource(stream);
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meter = { level: 0, peak: 0 };
    meter.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      meter.level = Math.sqrt(sum / samples.length);
      meter.peak = Math.max(meter.peak, meter.level);
      meter.shown = Math.max(meter.level, (meter.shown || 0) * 0.85); // falls back slowly, as meters do
      $(meterId).value = Math.min(1, meter.shown * 4);
    }, 100);
    meter.stop = () => {
      clearInterval(meter.timer);
      source.disconnect();
      $(meterId).value = 0;
    };
    return meter;
  }

  function makeLive() {
    let channel = null;
    let context = null;
    const meters = {};
    const lines = new Map(); // transcript line per item: partial until its "done"
    const tools = new Map(); // call_id -> its <li>
    let count = 0;
    let turn = { who: null, n: 0 }; // GPT-Live's transcript deltas carry no item: a line per speaker's turn

    function log(direction, event) {
      count += 1;
      $("event-count").textContent = String(count);
      const entry = document.createElement("li");
      entry.className = direction === "↑" ? "sent" : "received";
      const detail = event.type === "error" && event.error ? `: ${event.error.message || event.error.code || ""}` : "";
      entry.textContent = clip(`${direction} ${event.type || "(no type)"}${detail}`);
      $("event-log").append(entry);
      bounded($("event-log"), MAX_LOG);
      entry.scrollIntoView({ block: "nearest" });
    }

    function line(key, who, text, final) {
      let entry = lines.get(key);
      if (!entry) {
        entry = document.createElement("li");
        const name = document.createElement("span");
        name.className = "who";
        name.textContent = `${who}: `;
        entry.append(name, document.createElement("span"));
        lines.set(key, entry);
        $("transcript").append(entry);
        bounded($("transcript"), MAX_LINES, lines);
      }
      const words = entry.lastElementChild;
      words.textContent = clip(final ? text : words.textContent + text);
      entry.className = final ? "" : "partial";
    }

    // A GPT-Live transcript delta: it continues the speaker's line until the other one speaks.
    function liveDelta(who, delta) {
      if (turn.who !== who) {
        const previous = lines.get(`live-${turn.n}`);
        if (previous) previous.className = "";
        turn = { who, n: turn.n + 1 };
      }
      line(`live-${turn.n}`, who, typeof delta === "string" ? delta : "", false);
    }

    function tool(item) {
      if (!item || !item.call_id || !/^function_call(_output)?$/.test(item.type)) return;
      let entry = tools.get(item.call_id);
      if (!entry) {
        entry = document.createElement("li");
        entry.append(document.createElement("span"), document.createElement("span"));
        tools.set(item.call_id, entry);
        $("tools").append(entry);
        bounded($("tools"), MAX_LINES, tools);
        $("no-tools").hidden = true;
      }
      if (item.type === "function_call") {
        entry.firstElementChild.textContent = clip(`${item.name}(${item.arguments || ""}) [${item.call_id}]`);
        if (!entry.lastElementChild.textContent) {
          entry.lastElementChild.textContent = " → waiting for its output";
          entry.className = "pending";
        }
      } else if (item.type === "function_call_output") {
        if (!entry.firstElementChild.textContent) entry.firstElementChild.textContent = `[${item.call_id}]`;
        entry.lastElementChild.textContent = clip(` → ${item.output}`);
        entry.className = "answered";
      }
    }

    function received(message) {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        log("↓", { type: "(not JSON)" });
        return;
      }
      if (!event || typeof event !== "object") return;
      log("↓", event);
      const type = event.type || "";
      if (type === "conversation.item.input_audio_transcription.delta") {
        line(`in-${event.item_id}`, "Caller", event.delta || "", false);
      } else if (type === "conversation.item.input_audio_transcription.completed") {
        line(`in-${event.item_id}`, "Caller", event.transcript || "", true);
      } else if (type === "response.output_audio_transcript.delta") {
        line(`out-${event.item_id}`, "Model", event.delta || "", false);
      } else if (type === "response.output_audio_transcript.done") {
        line(`out-${event.item_id}`, "Model", event.transcript || "", true);
      } else if (event.item && /^(response\.output_item\.done|conversation\.item\.(added|created|done))$/.test(type)) {
        tool(event.item);
      } else if (type === "session.input_transcript.delta") {
        liveDelta("Caller", event.delta);
      } else if (type === "session.output_transcript.delta") {
        liveDelta("Model", event.delta);
      } else if (type === "response.event" && event.event && event.event.type === "response.output_item.done") {
        tool(event.event.item); // GPT-Live: a Responses delegation's stream, one envelope per event
      }
    }

    function send(event) {
      if (!channel || channel.readyState !== "open") return false;
      channel.send(JSON.stringify(event));
      log("↑", event);
      return true;
    }

    return {
      begin(events) {
        this.end();
        channel = events;
        count = 0;
        lines.clear();
        tools.clear();
        turn = { who: null, n: 0 };
        for (const id of ["transcript", "tools", "event-log"]) $(id).textContent = "";
        $("event-count").textContent = "0";
        $("no-tools").hidden = false;
        $("live").hidden = false;
        context = new AudioContext();
        events.onmessage = received;
        events.addEventListener("open", () => {
          $("say").disabled = false;
        });
        events.addEventListener("close", () => {
          $("say").disabled = true;
        });
      },
      local(stream) {
        if (context) meters.local = makeMeter(context, stream, "level-local");
      },
      remote(stream) {
        if (context && !meters.remote) meters.remote = makeMeter(context, stream, "level-remote");
      },
      end() {
        for (const name of Object.keys(meters)) {
          meters[name].stop();
          delete meters[name];
        }
        if (context) context.close();
        context = null;
        channel = null;
        $("say").disabled = true;
      },
      // Hanging up: a GPT-Live session ends with session.close on its channel (then the page closes its peer).
      closing() {
        if (config.voice_api === "live") send({ type: "session.close" });
      },
      levels() {
        const of = (meter) => (meter ? { level: meter.level, peak: meter.peak } : null);
        return { local: of(meters.local), remote: of(meters.remote) };
      },
      say(submit) {
        submit.preventDefault();
        const text = $("say-text").value.trim();
        if (!text) return;
        const item = { type: "message", role: "user", content: [{ type: "input_text", text }] };
        if (send({ type: "conversation.item.create", item }) && send({ type: "response.create" })) {
          line(`typed-${count}`, "You (typed)", text, true);
        }
      },
    };
  }

  // -- calls: one RTCPeerConnection each, its state in words -------------------------------------------------

  const NO_MEDIA_EMULATOR = "no media: the emulator answers signaling but sends no audio";
  const NO_MEDIA = "no media: the answer names no network address (no ICE candidates), so no audio can flow";

  function microphoneProblem(error) {
    if (error && error.name === "NotAllowedError") return "the microphone is blocked (allow it for this page)";
    if (error && error.name === "NotFoundError") return "no microphone found";
    return `the microphone is not available (${(error && error.message) || error})`;
  }

  // A call shown in `ids`: {state, error, start, end, audio}. `post(offerSdp)` sends the offer and returns
  // {answer, callId} or throws {problem}.
  function makeCall(ids, post) {
    const call = { peer: null, offer: null, noMedia: false, answered: false, channelOpen: false };

    function show(kind, text) {
      $(ids.state).textContent = text;
      $(ids.state).className = `state state-${kind}`;
    }

    // The words for the peer connection's state, once the answer is applied.
    function update() {
      const peer = call.peer;
      if (!peer || !call.answered) return;
      const state = peer.connectionState;
      if (state === "connected") {
        show("connected", call.channelOpen ? "connected: speak" : "connected");
      } else if (state === "disconnected") {
        show("connecting", "reconnecting: the network path dropped");
      } else if (state === "failed") {
        finish("failed", "failed: no network path to the voice server (ICE failed)");
      } else if (state === "closed") {
        finish("ended", "ended");
      } else if (call.noMedia) {
        show("no-media", offline() ? NO_MEDIA_EMULATOR : NO_MEDIA);
      } else {
        show("connecting", "connecting");
      }
    }

    function finish(kind, text) {
      const peer = call.peer;
      call.peer = null;
      call.answered = false;
      if (peer) {
        peer.getSenders().forEach((sender) => sender.track && sender.track.stop());
        peer.close();
      }
      show(kind, text);
      if (ids.live) ids.live.end();
      $(ids.end).hidden = true;
      $(ids.start).disabled = ids.canStart ? !ids.canStart() : false;
    }

    async function start() {
      $(ids.start).disabled = true;
      clearProblem(ids.error);
      call.noMedia = false;
      call.channelOpen = false;
      if (ids.callId) $(ids.callId).textContent = "-";
      const peer = new RTCPeerConnection();
      call.peer = peer;
      peer.ontrack = (event) => {
        $(ids.audio).srcObject = event.streams[0];
        if (ids.live) ids.live.remote(event.streams[0]);
      };
      peer.onconnectionstatechange = () => call.peer === peer && update();
      const events = peer.createDataChannel("oai-events");
      if (ids.live) ids.live.begin(events);
      events.onopen = () => {
        call.channelOpen = true;
        if (call.peer === peer) update();
      };
      events.onclose = () => {
        if (call.peer === peer && call.channelOpen) finish("ended", "ended: the other side closed the call");
      };
      show("starting", "starting: asking for the microphone");
      let microphone;
      try {
        microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (error) {
        finish("failed", `failed: ${microphoneProblem(error)}`);
        return;
      }
      if (call.peer !== peer) {
        microphone.getTracks().forEach((track) => track.stop()); // hung up meanwhile
        return;
      }
      microphone.getTracks().forEach((track) => peer.addTrack(track, microphone));
      if (ids.live) ids.live.local(microphone);
      try {
        const offer = await peer.createOffer();
        await peer.setLocalDescription(offer);
        call.offer = offer.sdp;
        show("starting", "starting: sending the offer");
        $(ids.end).hidden = false;
        const { answer, callId } = await post(offer.sdp);
        if (call.peer !== peer) return; // hung up while the server answered
        if (ids.callId) $(ids.callId).textContent = callId || "(no id)";
        await peer.setRemoteDescription({ type: "answer", sdp: answer });
        call.noMedia = !/^a=candidate:/m.test(answer);
        call.answered = true;
        update();
      } catch (error) {
        if (call.peer !== peer) return;
        if (error && error.problem) {
          showProblem(ids.error, error.problem);
          finish("failed", `failed: ${error.short}`);
        } else {
          showProblem(ids.error, { sentence: "The call could not start.", retryAfter: 0, detail: String(error) });
          finish("failed", `failed: ${(error && error.message) || error}`);
        }
      }
    }

    call.start = start;
    call.hangUp = () => {
      if (ids.live && call.peer) ids.live.closing();
      finish("ended", "ended");
    };
    return call;
  }

  // A refused or failed request to start a call, thrown from `post`.
  function callProblem(problem, short) {
    const error = new Error(short);
    error.problem = problem;
    error.short = short;
    return error;
  }

  // (1) with a real upstream: the offer goes to /v1/realtime/calls with the ephemeral key.
  const keyCall = makeCall(
    {
      state: "call-status",
      error: "key-call-error",
      start: "call",
      end: "hangup",
      audio: "remote-audio",
      canStart: () => Boolean(secret) && Boolean(config.calls_url) && expiresAt > (Date.now() + skewMs) / 1000,
    },
    async (offer) => {
      let response;
      try {
        response = await fetch(config.calls_url, {
          method: "POST",
          body: offer,
          headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/sdp" },
        });
      } catch (error) {
        throw callProblem(unreachable(config.calls_url, error), "the Realtime API could not be reached");
      }
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw callProblem(refusal(response, body, "calls"), "the Realtime API refused the call");
      }
      return { answer: await response.text(), callId: null };
    },
  );

  const serverLive = makeLive();

  // (2) through this server: the offer goes to its session path, which answers with the SDP answer and the call
  // id in X-Call-Id. The page holds no key at all.
  const serverCall = makeCall(
    {
      state: "call-state",
      error: "call-error",
      start: "start-call",
      end: "end-call",
      audio: "call-audio",
      callId: "call-id",
      live: serverLive,
    },
    async (offer) => {
      const query = new URLSearchParams();
      if (config.browser_fields.includes("voice")) query.set("voice", $("voice").value);
      const url = config.session_path + (query.toString() ? `?${query}` : "");
      let response;
      try {
        const headers = authHeaders({ "Content-Type": "application/sdp" });
        response = await fetch(url, { method: "POST", body: offer, headers, cache: "no-store" });
      } catch (error) {
        throw callProblem(unreachable(config.session_path, error), "the server could not be reached");
      }
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw callProblem(refusal(response, body, "calls"), "the server refused the call");
      }
      return { answer: await response.text(), callId: response.headers.get("X-Call-Id") };
    },
  );

  // For tests and curious users: the server call's signaling state ("stable" once the answer applied) and offer,
  // its connectionState, the inbound audio as getStats counts it, and what the level meters show.
  window.demoCallState = () => (serverCall.peer ? serverCall.peer.signalingState : null);
  window.demoPostedOffer = () => serverCall.offer;
  window.demoConnectionState = () => (serverCall.peer ? serverCall.peer.connectionState : null);
  window.demoInboundAudio = async () => {
    if (!serverCall.peer) return null;
    const found = { packetsReceived: 0, audioLevel: 0, totalAudioEnergy: 0 };
    (await serverCall.peer.getStats()).forEach((report) => {
      if (report.type !== "inbound-rtp" || report.kind !== "audio") return;
      found.packetsReceived += report.packetsReceived || 0;
      found.audioLevel = Math.max(found.audioLevel, report.audioLevel || 0);
      found.totalAudioEnergy += report.totalAudioEnergy || 0;
    });
    return found;
  };
  window.demoLevels = () => serverLive.levels();

  // -- start -------------------------------------------------------------------------------------------------

  const UPSTREAMS = {
    emulator: "the built-in emulator on loopback (offline: keys and call signaling, no audio)",
    "emulator-peer": "the built-in emulator on loopback (offline: keys, and calls a real WebRTC peer answers)",
    openai: "OpenAI (real keys and calls, billed to the server's account)",
    azure: "Azure OpenAI (keys; calls from this page are not offered)",
    unconfigured: "not configured: minting will fail",
  };

  async function start() {
    try {
      const response = await fetch("demo-config.json", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      config = await response.json();
    } catch (error) {
      showProblem("status", { sentence: "Cannot load the demo's configuration.", retryAfter: 0, detail: error.message });
      return;
    }
    const budgets = config.budgets;
    const peer = offline() && config.emulator_peer === true;
    const upstream = peer ? "emulator-peer" : config.upstream;
    $("upstream").textContent = UPSTREAMS[upstream] || config.upstream || "not reported by this server";
    $("budgets").textContent = budgets
      ? `keys ${budgetText(budgets.keys)}; calls ${budgetText(budgets.calls)} (per client, counted apart)`
      : "not reported by this server";
    $("emulator-note").hidden = !offline();
    $("note-peer").hidden = !peer;
    $("note-no-peer").hidden = peer;
    if (config.browser_fields.includes("voice")) {
      const select = $("voice");
      for (const voice of config.voices) {
        const option = document.createElement("option");
        option.value = option.textContent = voice;
        option.selected = voice === config.voice;
        select.append(option);
      }
      $("voice-row").hidden = false;
    }
    $("token-row").hidden = config.auth !== "bearer";
    $("settings").hidden = $("voice-row").hidden && $("token-row").hidden;
    $("token-path").textContent = `POST ${config.token_path}`;
    $("call-row").hidden = !config.calls_url;
    $("offline-note").hidden = Boolean(config.calls_url) || !offline();
    $("mint-form").addEventListener("submit", mint);
    $("call").addEventListener("click", keyCall.start);
    $("hangup").addEventListener("click", keyCall.hangUp);
    $("mint").disabled = false;
    if (config.session_path) {
      $("session-path").textContent = `POST ${config.session_path}`;
      $("signaling").hidden = false;
      $("start-call").addEventListener("click", serverCall.start);
      $("end-call").addEventListener("click", serverCall.hangUp);
      $("say-form").addEventListener("submit", serverLive.say);
      $("say-form").hidden = config.voice_api === "live"; // typed turns are the Realtime API's items
    }
  }

  start();
})();
