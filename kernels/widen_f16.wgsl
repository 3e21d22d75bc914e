// f16 -> f32, elementwise (exact): out[i] = f16 element off+i of inp, widened by unpack2x16float.
// Four elements a lane (u32 words in, one vec4f out): on lavapipe each store is a trip over the
// lanes, so a vec4 costs what one float would. `off` (the element where the binding's 256-byte
// aligned start falls short of the tensor) may be odd: then the four straddle three words. The
// last vec4 may run past n: it repeats the last word (never read past it), and `out` has room.
// For an f32 copy of an f16 operand for a moment (matmul's kernels other than the CPU panels).

override WG: u32 = 256;

struct Params { n: u32, off: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= (p.n + 3u) / 4u) { return; }
  let last = (p.off + p.n - 1u) / 2u; // the last word holding an element
  let e = p.off + 4u * i;
  let w = e / 2u;
  let a = unpack2x16float(inp[min(w, last)]);
  let b = unpack2x16float(inp[min(w + 1u, last)]);
  if ((p.off & 1u) == 0u) {
    out[i] = vec4f(a, b);
  } else {
    out[i] = vec4f(a.y, b, unpack2x16float(inp[min(w + 2u, last)]).x);
  }
}
