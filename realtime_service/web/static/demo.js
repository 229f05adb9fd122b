// The demo page's script: fetch a key from the token endpoint, show it redacted with a live countdown, show
// errors plainly, and (with a real upstream) open a WebRTC call with the key. No framework, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let config = null;
  let secret = null; // the key itself: only ever sent to the Realtime API to open the call
  let expiresAt = 0; // seconds since the epoch, server time
  let skewMs = 0; // server clock minus this browser's clock, from the Date header
  let countdownTimer = null;
  let retryTimer = null;
  let peer = null;

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

  function setStatus(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.className = isError ? "error" : "";
    status.setAttribute("role", isError ? "alert" : "status");
  }

  function serverNow() {
    return Date.now() + skewMs;
  }

  function tick() {
    const remaining = Math.floor(expiresAt - serverNow() / 1000);
    const countdown = $("countdown");
    if (remaining > 0) {
      countdown.textContent = `${remaining} s left`;
      countdown.className = "";
    } else {
      countdown.textContent = "expired";
      countdown.className = "expired";
      $("call").disabled = true;
      clearInterval(countdownTimer);
    }
  }

  function retryCountdown(prefix, seconds) {
    clearInterval(retryTimer);
    const until = Date.now() + seconds * 1000;
    const render = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(retryTimer);
        setStatus(`${prefix}: you can try again now.`, true);
      } else {
        setStatus(`${prefix}: retry in ${left} s.`, true);
      }
    };
    render();
    retryTimer = setInterval(render, 250);
  }

  function showError(response, body) {
    const error = (body && body.error) || {};
    const retryAfter = Number(response.headers.get("Retry-After") || error.retry_after || 0);
    const message = error.message || response.statusText || "request failed";
    if (response.status === 401) {
      setStatus(`401 Unauthorized: ${config.auth === "bearer" ? "enter a valid bearer token." : message}`, true);
    } else if (response.status === 429) {
      retryCountdown("429 Too many keys requested", retryAfter || 1);
    } else if (retryAfter > 0) {
      retryCountdown(`${response.status} ${message}`, retryAfter);
    } else {
      setStatus(`${response.status} ${message}${error.param ? ` (field: ${error.param})` : ""}`, true);
    }
  }

  async function mint(event) {
    event.preventDefault();
    clearInterval(retryTimer);
    setStatus("Minting…", false);
    $("mint").disabled = true;
    const headers = { "Content-Type": "application/json" };
    const token = $("token").value.trim();
    if (config.auth === "bearer" && token) headers.Authorization = `Bearer ${token}`;
    const payload = {};
    if (config.browser_fields.includes("voice")) payload.voice = $("voice").value;
    try {
      const response = await fetch(config.token_path, {
        method: "POST",
        headers,
        body: JSON.stringify(payload),
        cache: "no-store",
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        showError(response, body);
        return;
      }
      const key = keyOf(body);
      if (!key) {
        setStatus("The endpoint answered without a key.", true);
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
      $("call").disabled = !config.calls_url;
      setStatus("Key minted.", false);
      clearInterval(countdownTimer);
      tick();
      countdownTimer = setInterval(tick, 250);
    } catch (error) {
      setStatus(`Network error: ${error.message}`, true);
    } finally {
      $("mint").disabled = false;
    }
  }

  // GA WebRTC: send the SDP offer to /v1/realtime/calls with the ephemeral key, apply the answer.
  async function startCall() {
    if (!secret || !config.calls_url) return;
    $("call").disabled = true;
    $("call-status").textContent = "connecting…";
    try {
      peer = new RTCPeerConnection();
      peer.ontrack = (event) => {
        $("remote-audio").srcObject = event.streams[0];
      };
      const microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
      microphone.getTracks().forEach((track) => peer.addTrack(track, microphone));
      const events = peer.createDataChannel("oai-events");
      events.onopen = () => {
        $("call-status").textContent = "connected: speak";
      };
      const offer = await peer.createOffer();
      await peer.setLocalDescription(offer);
      const answer = await fetch(config.calls_url, {
        method: "POST",
        body: offer.sdp,
        headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/sdp" },
      });
      if (!answer.ok) throw new Error(`the Realtime API answered ${answer.status}`);
      await peer.setRemoteDescription({ type: "answer", sdp: await answer.text() });
      $("hangup").hidden = false;
    } catch (error) {
      $("call-status").textContent = `call failed: ${error.message}`;
      hangUp();
    }
  }

  function hangUp() {
    if (peer) {
      peer.getSenders().forEach((sender) => sender.track && sender.track.stop());
      peer.close();
      peer = null;
    }
    $("hangup").hidden = true;
    $("call").disabled = !secret || !config.calls_url;
  }

  // The server-side flow: the offer goes to this server's session path, which answers with the SDP answer and
  // the call id in X-Call-Id. The page holds no key at all.
  let serverCall = null;
  let postedOffer = null;

  function callState(text) {
    $("call-state").textContent = text;
  }

  function callError(text) {
    const error = $("call-error");
    error.textContent = text;
    error.hidden = !text;
  }

  async function startServerCall() {
    $("start-call").disabled = true;
    callError("");
    $("call-id").textContent = "-";
    callState("starting");
    try {
      serverCall = new RTCPeerConnection();
      serverCall.ontrack = (event) => {
        $("call-audio").srcObject = event.streams[0];
      };
      serverCall.onconnectionstatechange = () => {
        if (serverCall) callState(`${serverCall.signalingState}, ${serverCall.connectionState}`);
      };
      const microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
      microphone.getTracks().forEach((track) => serverCall.addTrack(track, microphone));
      const events = serverCall.createDataChannel("oai-events");
      events.onopen = () => callState("connected: speak");
      const offer = await serverCall.createOffer();
      await serverCall.setLocalDescription(offer);
      postedOffer = offer.sdp;
      const headers = { "Content-Type": "application/sdp" };
      const token = $("token").value.trim();
      if (config.auth === "bearer" && token) headers.Authorization = `Bearer ${token}`;
      const query = new URLSearchParams();
      if (config.browser_fields.includes("voice")) query.set("voice", $("voice").value);
      const url = config.session_path + (query.toString() ? `?${query}` : "");
      const response = await fetch(url, { method: "POST", body: offer.sdp, headers, cache: "no-store" });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        const error = (body && body.error) || {};
        const retryAfter = response.headers.get("Retry-After");
        const retry = retryAfter ? ` (retry in ${retryAfter} s)` : "";
        throw new Error(`${response.status} ${error.code || ""}: ${error.message || response.statusText}${retry}`);
      }
      $("call-id").textContent = response.headers.get("X-Call-Id") || "(no id)";
      await serverCall.setRemoteDescription({ type: "answer", sdp: await response.text() });
      callState(`${serverCall.signalingState}, ${serverCall.connectionState}`);
      $("end-call").hidden = false;
    } catch (error) {
      callError(`Call refused: ${error.message}`);
      endServerCall("failed");
    }
  }

  function endServerCall(state) {
    if (serverCall) {
      serverCall.getSenders().forEach((sender) => sender.track && sender.track.stop());
      serverCall.close();
      serverCall = null;
    }
    callState(typeof state === "string" ? state : "hung up");
    $("end-call").hidden = true;
    $("start-call").disabled = false;
  }

  // For tests and curious users: the peer connection's signaling state ("stable" once the answer applied).
  window.demoCallState = () => (serverCall ? serverCall.signalingState : null);
  window.demoPostedOffer = () => postedOffer;

  async function start() {
    try {
      const response = await fetch("demo-config.json", { cache: "no-store" });
      config = await response.json();
    } catch (error) {
      setStatus(`Cannot load the demo configuration: ${error.message}`, true);
      return;
    }
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
    $("call-row").hidden = !config.calls_url;
    $("offline-note").hidden = Boolean(config.calls_url);
    $("mint-form").addEventListener("submit", mint);
    $("call").addEventListener("click", startCall);
    $("hangup").addEventListener("click", hangUp);
    $("mint").disabled = false;
    if (config.session_path) {
      $("session-path").textContent = `POST ${config.session_path} (${config.voice_api})`;
      $("signaling").hidden = false;
      $("start-call").addEventListener("click", startServerCall);
      $("end-call").addEventListener("click", endServerCall);
    }
  }

  start();
})();
