// Benchmark-only worker (scripts/bench.sh), never part of the production worker.
//
// - `?mib=N`: WebCrypto AES-256-GCM throughput inside workerd. Seals N MiB in 64 KiB chunks (the
//   snapshot chunk size) with distinct nonces. Workers freeze the clock during CPU work, so the
//   caller times the request from outside and subtracts an empty run.
// - `?work=busy&n=N` / `?work=gzip&mib=N` / `?work=aes&mib=N`: known CPU work (a JS loop, gzip
//   through CompressionStream, AES-GCM through crypto.subtle) that bench.sh measures two ways,
//   with the V8 profiler in this isolate (bench/cpu-profile.mjs) and as the CPU time of this
//   workerd process (/proc), which runs nothing else meanwhile: if both agree, the profiler's
//   figures are the isolate's CPU, native runtime work included.

function pattern(bytes) {
  // Snapshot-like JSON, so gzip does the work it does on real objects.
  const text = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const item = `{"id":"00u${String(i).padStart(17, "0")}","status":"ACTIVE","profile":{"login":"user${i}@example.com","department":"D${i % 37}"}},`;
    text.push(item);
    size += item.length;
  }
  return new TextEncoder().encode(text.join("")).subarray(0, bytes);
}

async function seal(mib) {
  const key = await crypto.subtle.importKey(
    "raw", new Uint8Array(32).fill(9), { name: "AES-GCM" }, false, ["encrypt"]);
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  const iv = new Uint8Array(12);
  const view = new DataView(iv.buffer);
  let sealed = 0;
  for (let i = 0; i < mib * 16; i++) {
    view.setUint32(8, i);
    const out = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, chunk);
    sealed += out.byteLength;
  }
  return sealed;
}

async function gzip(mib) {
  const input = pattern(1024 * 1024);
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const reading = (async () => {
    let total = 0;
    for await (const piece of stream.readable) total += piece.byteLength;
    return total;
  })();
  for (let i = 0; i < mib; i++) await writer.write(input);
  await writer.close();
  return reading;
}

function busy(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

export default {
  async fetch(request) {
    const params = new URL(request.url).searchParams;
    const mib = Number(params.get("mib") || "0");
    switch (params.get("work")) {
      case "busy":
        return new Response(String(busy(Number(params.get("n") || "0"))));
      case "gzip":
        return new Response(String(await gzip(mib)));
      default:
        return new Response(String(await seal(mib)));
    }
  },
};
