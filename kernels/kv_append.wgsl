// Decode: each sequence's new qkv row joins its KV cache. For entries[e0 + e] = (row, slot, pos):
// cache slot `slot`, row `pos` = qkv row `row`. One workgroup per sequence, lanes over the row.
override WG: u32 = 64;

struct Params { R4: u32, stride4: u32, e0: u32 } // R4 = 3C / 4
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;          // [B, 3C]
@group(0) @binding(2) var<storage, read> entries: array<vec4u>;      // (row, slot, pos, unused)
@group(0) @binding(3) var<storage, read_write> cache: array<vec4f>;  // [slots, stride4]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ent = entries[p.e0 + wid.x];
  let dst = ent.y * p.stride4 + ent.z * p.R4;
  for (var c = lid; c < p.R4; c += WG) {
    cache[dst + c] = qkv[ent.x * p.R4 + c];
  }
}
