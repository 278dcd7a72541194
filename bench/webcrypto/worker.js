// WebCrypto AES-256-GCM throughput inside workerd, for scripts/bench.sh. Seals `mib` MiB in
// 64 KiB chunks (the snapshot chunk size) with distinct nonces. Workers freeze the clock during
// CPU work, so the caller times the request from outside and subtracts an empty run.
export default {
  async fetch(request) {
    const mib = Number(new URL(request.url).searchParams.get("mib") || "0");
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
    return new Response(String(sealed));
  },
};
