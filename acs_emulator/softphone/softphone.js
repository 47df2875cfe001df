// The ACS emulator's softphone: this page acts as one emulator phone. It calls the bot (the
// emulator's incoming-call path) or rings when the bot calls that number, and carries the
// call's audio: the microphone goes up as PCM16 at the call's rate, the bot's audio comes
// down the same WebSocket and is played. Protocol: acs_emulator/softphone_ws.py.

const $ = (selector) => document.querySelector(selector);
const FRAME_S = 0.02;
const LOUD_RMS = 300; // a 20 ms frame above this RMS (PCM16) counts as sound, not silence
const MAX_RECORDED_S = 300;

const phone = {
  socket: null,
  online: false,
  number: null,
  botNumber: null,
  phones: [],
  state: "offline",
  call: null,
  since: null,
  muted: false,
  ctx: null,
  worklets: null,
  audio: null, // {rate, stream, source, capture, player, sink}
  audioToken: 0,
  stats: null,
  errors: [],
  log: [],
};

function newStats(rate) {
  return {
    rate,
    sentBytes: 0,
    sentFrames: 0,
    receivedBytes: 0,
    receivedFrames: 0,
    loudFrames: 0,
    peak: 0,
    played: 0,
    buffered: 0,
    stops: 0,
    chunks: [],
    recordedBytes: 0,
  };
}

// --- the WebSocket ------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/softphone/ws`);
  socket.binaryType = "arraybuffer";
  phone.socket = socket;
  socket.onopen = () => {
    phone.online = true;
    note("connected to the emulator");
    render();
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") onMessage(JSON.parse(event.data));
    else onBotAudio(event.data);
  };
  socket.onclose = () => {
    const was = phone.online;
    phone.online = false;
    phone.state = "offline";
    phone.call = null;
    stopAudio();
    if (was) note("disconnected from the emulator; retrying");
    render();
    setTimeout(connect, 1000);
  };
}

function send(message) {
  if (phone.socket && phone.socket.readyState === WebSocket.OPEN) {
    phone.socket.send(JSON.stringify(message));
  }
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      phone.botNumber = message.bot_number;
      phone.phones = message.phones;
      fillPhones();
      if (phone.number) register(phone.number); // a reconnection keeps the number
      else if (initialNumber()) register(initialNumber());
      break;
    case "registered":
      phone.number = message.number;
      phone.botNumber = message.bot_number;
      localStorage.setItem("softphone.number", message.number);
      note(`this page is ${message.number}`);
      break;
    case "state":
      onState(message);
      break;
    case "pressed":
      note(`pressed ${message.tones}`);
      break;
    case "stop_audio":
      if (phone.stats) phone.stats.stops++;
      if (phone.audio) phone.audio.player.port.postMessage({ stop: true });
      break;
    case "ended":
      note(`call ended by ${message.by}: ${message.reason}`);
      $("#detail").textContent = `Ended by ${message.by}: ${message.reason}`;
      break;
    case "error":
      showError(`${message.request ? message.request + ": " : ""}${message.message}`, message);
      break;
  }
  render();
}

function onState(message) {
  const previous = phone.state;
  phone.state = message.state;
  phone.call = message.call;
  if (message.state === "incoming" && previous !== "incoming") note("the bot is calling");
  if (message.state === "calling" && previous !== "calling") note("calling the bot");
  if (message.state === "connected" && previous !== "connected") {
    phone.since = Date.now();
    note(`connected (${message.call.sample_rate ?? "no"} Hz audio)`);
    $("#detail").textContent = "";
  }
  if (message.state === "connected" && message.call.sample_rate) {
    startAudio(message.call.sample_rate);
  } else if (message.state !== "connected") {
    stopAudio();
  }
}

// --- the phone's number -------------------------------------------------------------------

function initialNumber() {
  const query = new URLSearchParams(location.search).get("number");
  return query || localStorage.getItem("softphone.number");
}

function fillPhones() {
  const list = $("#phones");
  list.replaceChildren(
    ...phone.phones.map((number) => Object.assign(document.createElement("option"), { value: number })),
  );
}

async function register(number) {
  number = number.trim().replace(/[\s.-]/g, "");
  $("#number").value = number;
  if (!phone.phones.includes(number) && /^\+[1-9]\d{6,14}$/.test(number)) {
    // A new number becomes an emulator phone first (the control API), then this page takes it.
    const response = await fetch("/_emulator/phones", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number }),
    });
    if (!response.ok) return showError(`adding ${number}: ${await response.text()}`);
    phone.phones.push(number);
    fillPhones();
  }
  send({ type: "register", number });
}

// --- audio --------------------------------------------------------------------------------

// Created on a click (dial, answer): browsers start an AudioContext only after a gesture.
// Never throws: a page without audio still rings, dials and sends keys.
function ensureContext() {
  if (!phone.ctx) {
    if (!window.isSecureContext || !window.AudioWorkletNode) {
      phone.worklets = Promise.reject(
        new Error("audio needs a secure page: open it at http://127.0.0.1 or localhost, or over https"),
      );
      phone.worklets.catch(() => {});
      return phone.worklets;
    }
    phone.ctx = new AudioContext();
    phone.worklets = phone.ctx.audioWorklet.addModule("/softphone/worklets.js");
    phone.worklets.catch(() => {});
  }
  if (phone.ctx && phone.ctx.state === "suspended") phone.ctx.resume();
  return phone.worklets;
}

async function startAudio(rate) {
  if (phone.audio && phone.audio.rate === rate) return;
  stopAudio();
  const token = ++phone.audioToken;
  phone.stats = newStats(rate);
  phone.audio = { rate, stream: null, source: null, capture: null, player: null, sink: null };
  try {
    await ensureContext();
  } catch (error) {
    return showError(`no audio: ${error.message}`);
  }
  if (token !== phone.audioToken) return;
  const ctx = phone.ctx;
  const player = new AudioWorkletNode(ctx, "softphone-player", {
    numberOfInputs: 0,
    outputChannelCount: [1],
    processorOptions: { rate },
  });
  player.port.onmessage = (event) => {
    if (!phone.stats) return;
    phone.stats.played = event.data.played;
    phone.stats.buffered = event.data.buffered;
  };
  player.connect(ctx.destination);
  phone.audio.player = player;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (error) {
    return showError(`microphone: ${error.message} (the bot will hear silence)`);
  }
  if (token !== phone.audioToken) {
    stream.getTracks().forEach((track) => track.stop());
    return;
  }
  const source = ctx.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(ctx, "softphone-capture", {
    numberOfOutputs: 1,
    processorOptions: { rate },
  });
  capture.port.onmessage = (event) => onMicFrame(event.data);
  // A silent sink keeps the capture node pulled by the audio graph.
  const sink = ctx.createGain();
  sink.gain.value = 0;
  source.connect(capture).connect(sink).connect(ctx.destination);
  Object.assign(phone.audio, { stream, source, capture, sink });
}

function stopAudio() {
  phone.audioToken++;
  const audio = phone.audio;
  phone.audio = null;
  if (!audio) return;
  if (audio.stream) audio.stream.getTracks().forEach((track) => track.stop());
  for (const node of [audio.source, audio.capture, audio.sink, audio.player]) {
    if (node) node.disconnect();
  }
}

function onMicFrame({ pcm, peak }) {
  $("#mic-level").value = phone.muted ? 0 : peak;
  if (phone.muted || phone.state !== "connected") return;
  if (phone.socket && phone.socket.readyState === WebSocket.OPEN) {
    phone.socket.send(pcm);
    phone.stats.sentBytes += pcm.byteLength;
    phone.stats.sentFrames++;
  }
}

function onBotAudio(buffer) {
  const stats = phone.stats;
  if (!stats) return;
  const pcm = new Int16Array(buffer, 0, buffer.byteLength >> 1);
  stats.receivedBytes += buffer.byteLength;
  const frame = Math.round(stats.rate * FRAME_S);
  let peak = 0;
  for (let start = 0; start < pcm.length; start += frame) {
    let energy = 0;
    const end = Math.min(pcm.length, start + frame);
    for (let i = start; i < end; i++) {
      energy += pcm[i] * pcm[i];
      peak = Math.max(peak, Math.abs(pcm[i]));
    }
    stats.receivedFrames++;
    if (Math.sqrt(energy / (end - start)) > LOUD_RMS) stats.loudFrames++;
  }
  stats.peak = Math.max(stats.peak, peak);
  $("#bot-level").value = peak / 32768;
  if (stats.recordedBytes < MAX_RECORDED_S * stats.rate * 2) {
    stats.chunks.push(pcm.slice()); // a copy: the buffer itself moves to the player
    stats.recordedBytes += buffer.byteLength;
  }
  if (phone.audio && phone.audio.player) {
    phone.audio.player.port.postMessage({ pcm: buffer }, [buffer]);
  }
  $("#bot-seconds").textContent = `${(stats.receivedBytes / 2 / stats.rate).toFixed(1)} s`;
}

// --- the page -----------------------------------------------------------------------------

const LABELS = {
  offline: "Not connected to the emulator",
  unregistered: "Choose this phone's number",
  idle: "Ready",
  incoming: "The bot is calling…",
  calling: "Calling the bot…",
  connected: "In call",
};

function render() {
  const state = phone.online && !phone.number ? "unregistered" : phone.state;
  const status = $("#status");
  status.dataset.state = state;
  let label = LABELS[state] || state;
  if (state === "connected" && phone.since) {
    const s = Math.floor((Date.now() - phone.since) / 1000);
    label += ` ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    if (phone.call && !phone.call.streaming) label += " (no audio stream yet)";
  }
  if (state === "incoming" || state === "calling" || state === "connected") {
    label += ` · ${phone.botNumber ?? "bot"}`;
  }
  status.textContent = label;
  $("#bot-number").textContent = phone.botNumber ?? "…";
  $("#this-number").textContent = phone.number ?? "none";
  $("#use").disabled = !phone.online || ["incoming", "calling", "connected"].includes(phone.state);
  show("#dial", state === "idle");
  show("#answer", state === "incoming");
  show("#decline", state === "incoming");
  show("#hangup", state === "calling" || state === "connected");
  show("#mute", state === "connected");
  $("#mute").setAttribute("aria-pressed", String(phone.muted));
  $("#mute").textContent = phone.muted ? "Unmute" : "Mute";
  for (const key of document.querySelectorAll(".key")) key.disabled = state !== "connected";
}

function show(selector, visible) {
  $(selector).hidden = !visible;
}

function note(text) {
  const time = new Date().toLocaleTimeString();
  phone.log.push(`${time} ${text}`);
  const item = document.createElement("li");
  item.textContent = `${time} ${text}`;
  $("#log").prepend(item);
  while ($("#log").children.length > 50) $("#log").lastChild.remove();
}

function showError(text, detail = null) {
  phone.errors.push(detail || { message: text });
  $("#error").textContent = text;
  note(`error: ${text}`);
}

function bind() {
  $("#line").addEventListener("submit", (event) => {
    event.preventDefault();
    $("#error").textContent = "";
    register($("#number").value);
  });
  $("#dial").addEventListener("click", () => {
    ensureContext();
    $("#detail").textContent = "";
    send({ type: "dial" });
  });
  $("#answer").addEventListener("click", () => {
    ensureContext();
    send({ type: "answer" });
  });
  $("#decline").addEventListener("click", () => send({ type: "decline" }));
  $("#hangup").addEventListener("click", () => send({ type: "hangup" }));
  $("#mute").addEventListener("click", () => {
    phone.muted = !phone.muted;
    render();
  });
  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => send({ type: "dtmf", tones: key.dataset.tone }));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || phone.state !== "connected") return;
    if (/^[0-9*#]$/.test(event.key)) send({ type: "dtmf", tones: event.key });
  });
  setInterval(render, 1000); // the call timer
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

// For tests and curious people: window.softphone.stats(), .recording().
window.softphone = {
  get state() {
    return phone.state;
  },
  get number() {
    return phone.number;
  },
  get errors() {
    return phone.errors.slice();
  },
  get log() {
    return phone.log.slice();
  },
  stats() {
    const s = phone.stats;
    if (!s) return null;
    const { chunks, ...numbers } = s;
    return { ...numbers, receivedSeconds: s.receivedBytes / 2 / s.rate, contextRate: phone.ctx?.sampleRate };
  },
  // The bot's audio as received (PCM16LE mono, base64) and its rate.
  recording() {
    const s = phone.stats;
    if (!s) return null;
    const all = new Uint8Array(s.recordedBytes);
    let offset = 0;
    for (const chunk of s.chunks) {
      all.set(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), offset);
      offset += chunk.byteLength;
    }
    return { rate: s.rate, pcm: base64(all) };
  },
};

bind();
render();
connect();
