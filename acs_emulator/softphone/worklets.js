// AudioWorklet processors of the softphone: the microphone to the call's rate, and the bot's
// audio from the call's rate to the AudioContext's. Loaded with audioWorklet.addModule().

// Streaming resampler: a windowed-sinc low-pass first when the rate goes down (no aliasing),
// then linear interpolation. State carries over between blocks, so the stream has no seams.
class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate;
    this.t = 1; // read position in [previous sample, ...block]
    this.previous = 0;
    this.taps = outRate < inRate ? lowPass((0.45 * outRate) / inRate, 31) : null;
    this.history = this.taps ? new Float32Array(this.taps.length - 1) : null;
  }

  process(block) {
    const x = this.taps ? this.filter(block) : block;
    const n = x.length;
    if (n === 0) return x;
    const out = new Float32Array(Math.max(0, Math.ceil((n - this.t) / this.step)) + 1);
    let count = 0;
    let t = this.t;
    while (t < n) {
      const i = Math.floor(t);
      const frac = t - i;
      const a = i === 0 ? this.previous : x[i - 1];
      out[count++] = a + (x[i] - a) * frac;
      t += this.step;
    }
    this.t = t - n;
    this.previous = x[n - 1];
    return out.subarray(0, count);
  }

  filter(block) {
    const taps = this.taps;
    const keep = this.history.length;
    const all = new Float32Array(keep + block.length);
    all.set(this.history);
    all.set(block, keep);
    const y = new Float32Array(block.length);
    for (let i = 0; i < block.length; i++) {
      let sum = 0;
      for (let j = 0; j < taps.length; j++) sum += taps[j] * all[i + keep - j];
      y[i] = sum;
    }
    this.history = all.slice(all.length - keep);
    return y;
  }
}

// Blackman-windowed sinc, cutoff as a fraction of the input rate, unity gain at 0 Hz.
function lowPass(cutoff, length) {
  const h = new Float32Array(length);
  const middle = (length - 1) / 2;
  let sum = 0;
  for (let n = 0; n < length; n++) {
    const x = n - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w =
      0.42 -
      0.5 * Math.cos((2 * Math.PI * n) / (length - 1)) +
      0.08 * Math.cos((4 * Math.PI * n) / (length - 1));
    h[n] = sinc * w;
    sum += h[n];
  }
  for (let n = 0; n < length; n++) h[n] /= sum;
  return h;
}

// The microphone, resampled to the call's rate, posted as 20 ms PCM16 frames.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const rate = options.processorOptions.rate;
    this.resampler = new Resampler(sampleRate, rate);
    this.size = Math.round(rate / 50);
    this.frame = new Int16Array(this.size);
    this.fill = 0;
    this.peak = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const y = this.resampler.process(channels[0]);
      for (let i = 0; i < y.length; i++) {
        const s = Math.max(-1, Math.min(1, y[i]));
        this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        this.peak = Math.max(this.peak, Math.abs(s));
        if (this.fill === this.size) {
          this.port.postMessage({ pcm: this.frame.buffer, peak: this.peak }, [this.frame.buffer]);
          this.frame = new Int16Array(this.size);
          this.fill = 0;
          this.peak = 0;
        }
      }
    }
    return true;
  }
}

// The bot's audio: PCM16 at the call's rate in, played at the context's rate. Starts once
// 60 ms are buffered (and again after running dry), so network jitter does not click.
class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.resampler = new Resampler(options.processorOptions.rate, sampleRate);
    this.ring = new Float32Array(sampleRate * 30);
    this.start = 0;
    this.size = 0;
    this.prime = Math.round(sampleRate * 0.06);
    this.primed = false;
    this.played = 0;
    this.dropped = 0;
    this.flushes = 0;
    this.sinceReport = 0;
    this.port.onmessage = (event) => {
      if (event.data.pcm) this.push(new Int16Array(event.data.pcm));
      else if (event.data.stop) this.flush();
    };
  }

  push(pcm) {
    const block = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) block[i] = pcm[i] / 32768;
    const y = this.resampler.process(block);
    const capacity = this.ring.length;
    for (let i = 0; i < y.length; i++) {
      if (this.size === capacity) {
        // Far behind: drop the oldest sample rather than grow the delay.
        this.start = (this.start + 1) % capacity;
        this.size--;
        this.dropped++;
      }
      this.ring[(this.start + this.size) % capacity] = y[i];
      this.size++;
    }
  }

  flush() {
    this.size = 0;
    this.primed = false;
    this.flushes++;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.primed && this.size >= this.prime) this.primed = true;
    let n = 0;
    if (this.primed) {
      n = Math.min(this.size, out.length);
      const capacity = this.ring.length;
      for (let i = 0; i < n; i++) out[i] = this.ring[(this.start + i) % capacity];
      this.start = (this.start + n) % capacity;
      this.size -= n;
      if (this.size === 0) this.primed = false;
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    this.played += n;
    this.sinceReport += out.length;
    if (this.sinceReport >= sampleRate / 4) {
      this.sinceReport = 0;
      this.port.postMessage({
        played: this.played / sampleRate,
        buffered: this.size / sampleRate,
        dropped: this.dropped,
        flushes: this.flushes,
      });
    }
    return true;
  }
}

registerProcessor("softphone-capture", CaptureProcessor);
registerProcessor("softphone-player", PlayerProcessor);
