// AssemblyScript, compiled to WebAssembly (SIMD, shared memory) by build-kernels.mjs into src/resample-wasm.ts.
// The per-pixel inner loops of align, paste and the background upscale; src/pipeline/resample.ts owns the memory
// layout and calls these with pointers into this module's memory. Every kernel uses Revive's pixel-centre
// convention and Catmull-Rom (Keys, a = -0.5), libvips' "bicubic", with edges replicated.
//
// Buffers the wrapper passes are padded by at least 16 bytes: a 3-channel pixel is read and written as 4 bytes
// (the fourth belongs to the next pixel and is rewritten by it), a row of four 3-channel taps is read as 16 bytes
// (4 past the taps), and float rows as whole v128 lanes. Paste writes exactly 3 bytes a pixel: the pixels beside a
// span are not its to touch.

/** Catmull-Rom weights of the taps at −1, 0, 1, 2 for a sample at fraction t ∈ [0, 1) past tap 0. */
@inline function w0(t: f32): f32 { return ((-0.5 * t + 1.0) * t - 0.5) * t; }
@inline function w1(t: f32): f32 { return (1.5 * t - 2.5) * t * t + 1.0; }
@inline function w2(t: f32): f32 { return ((-1.5 * t + 2.0) * t + 0.5) * t; }
@inline function w3(t: f32): f32 { return (0.5 * t - 0.5) * t * t; }

@inline function clampI(v: i32, hi: i32): i32 { return v < 0 ? 0 : v > hi ? hi : v; }

/**
 * A sample index coordinate brought within [−4, n + 3]: beyond that every tap is the replicated edge anyway, and
 * the tap indices then stay far from i32 overflow (a huge or infinite coordinate would wrap the bounds checks).
 */
@inline function clampCoordinate(v: f64, n: i32): f64 { return Math.min(Math.max(v, -4.0), <f64>n + 3.0); }

/** Bytes at p as four f32 lanes (R, G, B, and the next byte). */
@inline function px(p: usize): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
}

/**
 * Four f32 lanes clamped to [0, 255] and rounded to the nearest integer (ties to even), as i32 lanes: adding 2²³
 * leaves the rounded value in the low mantissa bits. V8 lowers i32x4.trunc_sat_f32x4_s, the direct route, to a
 * dozen instructions, which made it the costliest step of a warp (measured: 6.5 ns a pixel against 1.2).
 */
@inline function roundToInts(v: v128): v128 {
  const clamped = f32x4.pmin(f32x4.pmax(v, f32x4.splat(0)), f32x4.splat(255));
  return i32x4.sub(f32x4.add(clamped, f32x4.splat(8388608.0)), i32x4.splat(0x4b000000));
}

/** Four f32 lanes rounded and saturated to bytes, in the low four bytes. */
@inline function toBytes(v: v128): v128 {
  return v128.shuffle<u8>(roundToInts(v), roundToInts(v), 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
}

@inline function byteOf(v: f32): u8 {
  const r = <i32>Mathf.floor(v + 0.5);
  return <u8>(r < 0 ? 0 : r > 255 ? 255 : r);
}

/**
 * Bicubic sample of a 3- or 4-channel image (row stride `stride` bytes) at index coordinates (x, y), edges
 * replicated: four f32 lanes (the fourth is garbage for 3 channels).
 */
@inline function sample(src: usize, sw: i32, sh: i32, ch: i32, stride: i32, x0: f64, y0: f64): v128 {
  const x = clampCoordinate(x0, sw), y = clampCoordinate(y0, sh);
  const fx = Math.floor(x), fy = Math.floor(y);
  const ix = <i32>fx, iy = <i32>fy;
  const tx = <f32>(x - fx), ty = <f32>(y - fy);
  const wx0 = f32x4.splat(w0(tx)), wx1 = f32x4.splat(w1(tx)), wx2 = f32x4.splat(w2(tx)), wx3 = f32x4.splat(w3(tx));
  const wy0 = w0(ty), wy1 = w1(ty), wy2 = w2(ty), wy3 = w3(ty);
  if (ch == 3 && ix >= 1 && iy >= 1 && ix + 2 < sw && iy + 2 < sh) return sampleInside3(src, stride, ix, iy, tx, ty);
  let acc = f32x4.splat(0);
  if (ix >= 1 && iy >= 1 && ix + 2 < sw && iy + 2 < sh) {
    // Inside: the four taps of a row are consecutive pixels.
    let row = src + <usize>((iy - 1) * stride + (ix - 1) * ch);
    const c = <usize>ch;
    for (let r = 0; r < 4; r++) {
      let h = f32x4.mul(px(row), wx0);
      h = f32x4.add(h, f32x4.mul(px(row + c), wx1));
      h = f32x4.add(h, f32x4.mul(px(row + 2 * c), wx2));
      h = f32x4.add(h, f32x4.mul(px(row + 3 * c), wx3));
      const wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
      acc = f32x4.add(acc, f32x4.mul(h, f32x4.splat(wy)));
      row += <usize>stride;
    }
    return acc;
  }
  const c0 = <usize>(clampI(ix - 1, sw - 1) * ch), c1 = <usize>(clampI(ix, sw - 1) * ch);
  const c2 = <usize>(clampI(ix + 1, sw - 1) * ch), c3 = <usize>(clampI(ix + 2, sw - 1) * ch);
  for (let r = 0; r < 4; r++) {
    const row = src + <usize>(clampI(iy - 1 + r, sh - 1) * stride);
    let h = f32x4.mul(px(row + c0), wx0);
    h = f32x4.add(h, f32x4.mul(px(row + c1), wx1));
    h = f32x4.add(h, f32x4.mul(px(row + c2), wx2));
    h = f32x4.add(h, f32x4.mul(px(row + c3), wx3));
    const wy = r == 0 ? wy0 : r == 1 ? wy1 : r == 2 ? wy2 : wy3;
    acc = f32x4.add(acc, f32x4.mul(h, f32x4.splat(wy)));
  }
  return acc;
}

/** The four Catmull-Rom weights for fraction t, as lanes (one polynomial per lane, Horner's rule). */
@inline function weights(t: f32): v128 {
  const t4 = f32x4.splat(t);
  let w = f32x4.add(f32x4.mul(f32x4(-0.5, 1.5, -1.5, 0.5), t4), f32x4(1.0, -2.5, 2.0, -0.5));
  w = f32x4.add(f32x4.mul(w, t4), f32x4(-0.5, 0.0, 0.5, 0.0));
  return f32x4.add(f32x4.mul(w, t4), f32x4(0.0, 1.0, 0.0, 0.0));
}

/** A row of four RGB taps (12 bytes at p) regrouped by channel: R0..R3, G0..G3, B0..B3, one load and one swizzle. */
@inline function rowLoad(p: usize): v128 {
  const l = v128.load(p);
  return v128.shuffle<u8>(l, l, 0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11, 12, 12, 12, 12);
}

/**
 * Bicubic sample of an RGB image whose 4×4 taps lie inside it (row stride `stride`), at tap-0 index (ix, iy) and
 * fractions (tx, ty): lanes R, G, B, B. Vertical weights first, per channel over the four taps of a row (each row
 * one load regrouped by channel, R0..R3 G0..G3 B0..B3, and widened once per half), then one dot product with the
 * horizontal weights.
 */
@inline function sampleInside3(src: usize, stride: i32, ix: i32, iy: i32, tx: f32, ty: f32): v128 {
  const wx = weights(tx), wy = weights(ty);
  const p0 = src + <usize>((iy - 1) * stride + (ix - 1) * 3);
  const p1 = p0 + <usize>stride, p2 = p1 + <usize>stride, p3 = p2 + <usize>stride;
  const v0 = rowLoad(p0), v1 = rowLoad(p1), v2 = rowLoad(p2), v3 = rowLoad(p3);
  const l0 = i16x8.extend_low_i8x16_u(v0), l1 = i16x8.extend_low_i8x16_u(v1);
  const l2 = i16x8.extend_low_i8x16_u(v2), l3 = i16x8.extend_low_i8x16_u(v3);
  const k0 = v128.shuffle<f32>(wy, wy, 0, 0, 0, 0), k1 = v128.shuffle<f32>(wy, wy, 1, 1, 1, 1);
  const k2 = v128.shuffle<f32>(wy, wy, 2, 2, 2, 2), k3 = v128.shuffle<f32>(wy, wy, 3, 3, 3, 3);
  let r = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l0)), k0);
  r = f32x4.add(r, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l1)), k1));
  r = f32x4.add(r, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l2)), k2));
  r = f32x4.add(r, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l3)), k3));
  let g = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l0)), k0);
  g = f32x4.add(g, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l1)), k1));
  g = f32x4.add(g, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l2)), k2));
  g = f32x4.add(g, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l3)), k3));
  let b = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(v0))), k0);
  b = f32x4.add(b, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(v1))), k1));
  b = f32x4.add(b, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(v2))), k2));
  b = f32x4.add(b, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(v3))), k3));
  r = f32x4.mul(r, wx); g = f32x4.mul(g, wx); b = f32x4.mul(b, wx);
  const rg = f32x4.add(v128.shuffle<f32>(r, g, 0, 1, 4, 5), v128.shuffle<f32>(r, g, 2, 3, 6, 7));
  const bb = f32x4.add(v128.shuffle<f32>(b, b, 0, 1, 0, 1), v128.shuffle<f32>(b, b, 2, 3, 2, 3));
  return f32x4.add(v128.shuffle<f32>(rg, bb, 0, 2, 4, 6), v128.shuffle<f32>(rg, bb, 1, 3, 5, 7));
}

/**
 * Bicubic sample of an image of f32 RGBX pixels (row stride `stride` bytes) whose 4×4 taps lie inside it, at tap-0
 * index (ix, iy) and fractions (tx, ty): each tap is one load and one multiply-add, with no widening.
 */
@inline function sampleInsideF(src: usize, stride: i32, ix: i32, iy: i32, tx: f32, ty: f32): v128 {
  const wx = weights(tx), wy = weights(ty);
  const x0 = v128.shuffle<f32>(wx, wx, 0, 0, 0, 0), x1 = v128.shuffle<f32>(wx, wx, 1, 1, 1, 1);
  const x2 = v128.shuffle<f32>(wx, wx, 2, 2, 2, 2), x3 = v128.shuffle<f32>(wx, wx, 3, 3, 3, 3);
  const p0 = src + <usize>((iy - 1) * stride + ((ix - 1) << 4));
  const p1 = p0 + <usize>stride, p2 = p1 + <usize>stride, p3 = p2 + <usize>stride;
  const h0 = f32x4.add(f32x4.add(f32x4.mul(v128.load(p0), x0), f32x4.mul(v128.load(p0, 16), x1)), f32x4.add(f32x4.mul(v128.load(p0, 32), x2), f32x4.mul(v128.load(p0, 48), x3)));
  const h1 = f32x4.add(f32x4.add(f32x4.mul(v128.load(p1), x0), f32x4.mul(v128.load(p1, 16), x1)), f32x4.add(f32x4.mul(v128.load(p1, 32), x2), f32x4.mul(v128.load(p1, 48), x3)));
  const h2 = f32x4.add(f32x4.add(f32x4.mul(v128.load(p2), x0), f32x4.mul(v128.load(p2, 16), x1)), f32x4.add(f32x4.mul(v128.load(p2, 32), x2), f32x4.mul(v128.load(p2, 48), x3)));
  const h3 = f32x4.add(f32x4.add(f32x4.mul(v128.load(p3), x0), f32x4.mul(v128.load(p3, 16), x1)), f32x4.add(f32x4.mul(v128.load(p3, 32), x2), f32x4.mul(v128.load(p3, 48), x3)));
  return f32x4.add(
    f32x4.add(f32x4.mul(h0, v128.shuffle<f32>(wy, wy, 0, 0, 0, 0)), f32x4.mul(h1, v128.shuffle<f32>(wy, wy, 1, 1, 1, 1))),
    f32x4.add(f32x4.mul(h2, v128.shuffle<f32>(wy, wy, 2, 2, 2, 2)), f32x4.mul(h3, v128.shuffle<f32>(wy, wy, 3, 3, 3, 3))),
  );
}

/** n RGB pixels at src as f32 RGBX at dst (16 bytes a pixel; X is the next pixel's red, never used). */
export function toFloatPixels(src: usize, n: i32, dst: usize): void {
  for (let i = 0; i < n; i++) v128.store(dst + (<usize>i << 4), px(src + <usize>i * 3));
}

/** Scalar bicubic sample of a one-channel image. */
@inline function sample1(src: usize, sw: i32, sh: i32, x0: f64, y0: f64): f32 {
  const x = clampCoordinate(x0, sw), y = clampCoordinate(y0, sh);
  const fx = Math.floor(x), fy = Math.floor(y);
  const ix = <i32>fx, iy = <i32>fy;
  const tx = <f32>(x - fx), ty = <f32>(y - fy);
  const a0 = w0(tx), a1 = w1(tx), a2 = w2(tx), a3 = w3(tx);
  const c0 = clampI(ix - 1, sw - 1), c1 = clampI(ix, sw - 1), c2 = clampI(ix + 1, sw - 1), c3 = clampI(ix + 2, sw - 1);
  let acc: f32 = 0;
  for (let r = 0; r < 4; r++) {
    const row = src + <usize>(clampI(iy - 1 + r, sh - 1) * sw);
    const h = a0 * <f32>load<u8>(row + c0) + a1 * <f32>load<u8>(row + c1) + a2 * <f32>load<u8>(row + c2) + a3 * <f32>load<u8>(row + c3);
    acc += h * (r == 0 ? w0(ty) : r == 1 ? w1(ty) : r == 2 ? w2(ty) : w3(ty));
  }
  return acc;
}

/**
 * Affine warp: destination pixel (X, Y), X < dw, Y in [y0, y1), takes the source at index coordinates
 * (a·X + b·Y + c, d·X + e·Y + f) (the caller folds the half-pixel centres into c and f). Rows y0..y1 of the
 * destination are written at dst (row stride dw·ch), so a caller can run a tall warp in strips.
 */
export function warp(
  src: usize, srcF: usize, sw: i32, sh: i32, ch: i32,
  dst: usize, dw: i32, y0: i32, y1: i32,
  a: f64, b: f64, c: f64, d: f64, e: f64, f: f64,
): void {
  const stride = sw * ch;
  let out = dst;
  for (let Y = y0; Y < y1; Y++) {
    const rx = b * <f64>Y + c, ry = e * <f64>Y + f;
    if (ch == 1) {
      for (let X = 0; X < dw; X++) {
        store<u8>(out, byteOf(sample1(src, sw, sh, a * <f64>X + rx, d * <f64>X + ry)));
        out += 1;
      }
      continue;
    }
    const step = <usize>ch;
    // The coordinates step along the row (as paste's do) rather than being recomputed per pixel.
    let x = rx, y = ry;
    for (let X = 0; X < dw; X++, x += a, y += d) {
      // Most of a crop's samples have all 16 taps inside the photo: told from the coordinates themselves (a NaN
      // fails the test), the index is their truncation, with neither sample()'s clamps nor its floors (align 8.4 →
      // 6.7 CPU ms per 512² crop; paste does the same).
      if (ch == 3 && x >= 1.0 && y >= 1.0 && x < <f64>(sw - 2) && y < <f64>(sh - 2)) {
        const ix = <i32>x, iy = <i32>y, tx = <f32>(x - <f64>ix), ty = <f32>(y - <f64>iy);
        // An f32 RGBX copy of the source, when the wrapper made one, spares the widening of every tap.
        v128.store32_lane(out, toBytes(srcF != 0 ? sampleInsideF(srcF, sw << 4, ix, iy, tx, ty) : sampleInside3(src, stride, ix, iy, tx, ty)), 0);
      } else {
        v128.store32_lane(out, toBytes(sample(src, sw, sh, ch, stride, x, y)), 0);
      }
      out += step;
    }
  }
}

/** Profile value at face coordinate t (samples at i + 0.5, zero outside): linear interpolation. */
@inline function profileAt(profile: usize, n: i32, t: f64): f64 {
  const ft = t - 0.5;
  const fi = Math.floor(ft);
  const i = <i32>fi;
  const w = ft - fi;
  const p0 = i >= 0 && i < n ? <f64>load<f32>(profile + (<usize>i << 2)) : 0.0;
  const p1 = i + 1 >= 0 && i + 1 < n ? <f64>load<f32>(profile + (<usize>(i + 1) << 2)) : 0.0;
  return p0 + (p1 - p0) * w;
}

/** A sample of the RGB face at index coordinates (x, y): taps told inside from the coordinates, as warp does. */
@inline function faceSample(face: usize, faceF: usize, fw: i32, fh: i32, stride: i32, x: f64, y: f64): v128 {
  if (x >= 1.0 && y >= 1.0 && x < <f64>(fw - 2) && y < <f64>(fh - 2)) {
    const ix = <i32>x, iy = <i32>y;
    const tx = <f32>(x - <f64>ix), ty = <f32>(y - <f64>iy);
    return toBytes(faceF != 0 ? sampleInsideF(faceF, fw << 4, ix, iy, tx, ty) : sampleInside3(face, stride, ix, iy, tx, ty));
  }
  return toBytes(sample(face, fw, fh, 3, stride, x, y));
}

@inline function store3(o: usize, s: v128): void {
  v128.store16_lane(o, s, 0);
  v128.store8_lane(o, s, 2, 2);
}

/** Blends the sampled pixels [X0, X1) of a row over it with the mask; (x, y) are the face coordinates at X0. */
@inline function blendRun(
  face: usize, faceF: usize, fw: i32, fh: i32, stride: i32, row: usize, X0: i32, X1: i32,
  x: f64, y: f64, sa: f64, sd: f64, u: f64, v: f64, ma: f64, md: f64, profile: usize, n: i32,
): void {
  let o = row + <usize>(X0 * 3);
  for (let X = X0; X < X1; X++) {
    const alpha = Math.floor(255.0 * profileAt(profile, n, u) * profileAt(profile, n, v) + 0.5);
    if (alpha > 0) {
      const s = faceSample(face, faceF, fw, fh, stride, x, y);
      if (alpha >= 255) store3(o, s);
      else {
        const wf = <f32>(alpha / 255.0);
        const face4 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(s)));
        store3(o, toBytes(f32x4.add(f32x4.mul(face4, f32x4.splat(wf)), f32x4.mul(px(o), f32x4.splat(1.0 - wf)))));
      }
    }
    x += sa; y += sd; u += ma; v += md;
    o += 3;
  }
}

/**
 * Paste of one restored face over rows [y0, y1) of an RGB strip (row stride ow·3 bytes, strip row 0 = footprint
 * row y0): each pixel X of a row in [from, to) (spans, 4 i32 per row: from, to, opaqueFrom, opaqueTo) takes the
 * bicubic sample of `face` (fw×fh RGB) at (sa·X + sb·Y + sc, sd·X + se·Y + sf) and, outside [opaqueFrom, opaqueTo),
 * blends it over the strip with α = round(255·P(u)·P(v)), where (u, v) = (ma·X + mb·Y + mc, md·X + me·Y + mf) is the
 * pixel centre in face space and P the mask profile (n f32 samples).
 */
export function paste(
  face: usize, faceF: usize, fw: i32, fh: i32,
  out: usize, ow: i32, y0: i32, y1: i32, x0: i32, spans: usize,
  profile: usize, n: i32,
  sa: f64, sb: f64, sc: f64, sd: f64, se: f64, sf: f64,
  ma: f64, mb: f64, mc: f64, md: f64, me: f64, mf: f64,
): void {
  const stride = fw * 3;
  for (let Y = y0; Y < y1; Y++) {
    const span = spans + (<usize>(Y - y0) << 4);
    const from = load<i32>(span), to = load<i32>(span, 4);
    if (from >= to) continue;
    // The opaque run is the part of [opaqueFrom, opaqueTo) inside [from, to): the rest of the span is blended.
    const opaqueFrom = min(max(load<i32>(span, 8), from), to), opaqueTo = min(max(load<i32>(span, 12), opaqueFrom), to);
    const row = out + <usize>((Y - y0) * ow + x0) * 3;
    const fY = <f64>Y;
    const rx = sb * fY + sc, ry = se * fY + sf;
    const ru = mb * fY + mc, rv = me * fY + mf;
    // Coordinates step along the row rather than being recomputed per pixel; each run starts from its own.
    const a0 = <f64>from, a1 = <f64>opaqueTo;
    blendRun(face, faceF, fw, fh, stride, row, from, opaqueFrom, sa * a0 + rx, sd * a0 + ry, sa, sd, ma * a0 + ru, md * a0 + rv, ma, md, profile, n);
    let x = sa * <f64>opaqueFrom + rx, y = sd * <f64>opaqueFrom + ry;
    let o = row + <usize>(opaqueFrom * 3);
    for (let X = opaqueFrom; X < opaqueTo; X++) {
      store3(o, faceSample(face, faceF, fw, fh, stride, x, y));
      x += sa; y += sd;
      o += 3;
    }
    blendRun(face, faceF, fw, fh, stride, row, opaqueTo, to, sa * a1 + rx, sd * a1 + ry, sa, sd, ma * a1 + ru, md * a1 + rv, ma, md, profile, n);
  }
}

/** Runs of pixels an enlargement leaves out, per row: SKIP_RUNS pairs [from, to) of i32, sorted, empty ones last. */
const SKIP_RUNS = 4;
const SKIP_ROW_BYTES: usize = SKIP_RUNS * 8;

/** Float row pixels [X0, X1) of the horizontal pass (see enlargeRows). */
@inline function enlargeRowRun(row: usize, ch: i32, out: usize, X0: i32, X1: i32, idx: usize, wt: usize): void {
  const c = <usize>ch;
  let o = out + <usize>X0 * (c << 2);
  if (ch == 1) {
    for (let X = X0; X < X1; X++) {
      const i = idx + (<usize>X << 4), w = wt + (<usize>X << 4);
      store<f32>(o,
        load<f32>(w) * <f32>load<u8>(row + <usize>load<i32>(i)) + load<f32>(w, 4) * <f32>load<u8>(row + <usize>load<i32>(i, 4)) +
        load<f32>(w, 8) * <f32>load<u8>(row + <usize>load<i32>(i, 8)) + load<f32>(w, 12) * <f32>load<u8>(row + <usize>load<i32>(i, 12)));
      o += 4;
    }
    return;
  }
  for (let X = X0; X < X1; X++) {
    const i = idx + (<usize>X << 4), w = wt + (<usize>X << 4);
    let h = f32x4.mul(px(row + <usize>load<i32>(i) * c), f32x4.splat(load<f32>(w)));
    h = f32x4.add(h, f32x4.mul(px(row + <usize>load<i32>(i, 4) * c), f32x4.splat(load<f32>(w, 4))));
    h = f32x4.add(h, f32x4.mul(px(row + <usize>load<i32>(i, 8) * c), f32x4.splat(load<f32>(w, 8))));
    h = f32x4.add(h, f32x4.mul(px(row + <usize>load<i32>(i, 12) * c), f32x4.splat(load<f32>(w, 12))));
    // A 3-channel pixel's fourth float spills into the next one, which writes its own over it (or is left out).
    v128.store(o, h);
    o += c << 2;
  }
}

/**
 * Float row pixels [X0, X1) of an exact 2× horizontal pass (dw = 2·sw, ch 3 or 4): away from the edges, output
 * pixels 2i and 2i + 1 take their taps from the same five source pixels i − 2..i + 2, with the same two sets of
 * weights all along the row (fractions 0.75 and 0.25), so a pair costs five loads instead of eight, and no index
 * reads. The sums are taken in enlargeRowRun's order, with its weights: the same floats.
 */
@inline function enlargeRowRun2x(row: usize, sw: i32, ch: i32, out: usize, X0: i32, X1: i32, idx: usize, wt: usize): void {
  let Xa = max(X0, 4), Xb = min(X1, 2 * sw - 4);
  Xa += Xa & 1;
  Xb -= Xb & 1;
  if (Xa >= Xb) {
    enlargeRowRun(row, ch, out, X0, X1, idx, wt);
    return;
  }
  enlargeRowRun(row, ch, out, X0, Xa, idx, wt);
  const c = <usize>ch;
  const we = wt + (<usize>Xa << 4), wo = we + 16;
  const e0 = f32x4.splat(load<f32>(we)), e1 = f32x4.splat(load<f32>(we, 4)), e2 = f32x4.splat(load<f32>(we, 8)), e3 = f32x4.splat(load<f32>(we, 12));
  const o0 = f32x4.splat(load<f32>(wo)), o1 = f32x4.splat(load<f32>(wo, 4)), o2 = f32x4.splat(load<f32>(wo, 8)), o3 = f32x4.splat(load<f32>(wo, 12));
  let p = row + <usize>((Xa >> 1) - 2) * c;
  let o = out + <usize>Xa * (c << 2);
  for (let X = Xa; X < Xb; X += 2) {
    const a = px(p), b = px(p + c), m = px(p + 2 * c), d = px(p + 3 * c), e = px(p + 4 * c);
    let h = f32x4.mul(a, e0);
    h = f32x4.add(h, f32x4.mul(b, e1));
    h = f32x4.add(h, f32x4.mul(m, e2));
    h = f32x4.add(h, f32x4.mul(d, e3));
    let k = f32x4.mul(b, o0);
    k = f32x4.add(k, f32x4.mul(m, o1));
    k = f32x4.add(k, f32x4.mul(d, o2));
    k = f32x4.add(k, f32x4.mul(e, o3));
    v128.store(o, h);
    v128.store(o + (c << 2), k);
    p += c;
    o += c << 3;
  }
  enlargeRowRun(row, ch, out, Xb, X1, idx, wt);
}

/**
 * Horizontal pass of a separable enlargement: `rows` rows of `src` (sw pixels of ch bytes, ch 1, 3 or 4) into
 * float rows of dw·ch values at `dst`, output pixel X taking taps at the 4 source columns idx[4X..4X+3] (already
 * clamped to the row) with weights wt[4X..4X+3]; the runs of row r's `skip` list are left as they were.
 */
function enlargeRows(src: usize, sw: i32, rows: i32, ch: i32, dst: usize, dw: i32, idx: usize, wt: usize, skip: usize): void {
  const srcStride = <usize>(sw * ch), dstStride = <usize>(dw * ch) << 2;
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * srcStride;
    const out = dst + <usize>r * dstStride;
    const runs = skip + <usize>r * SKIP_ROW_BYTES;
    const twice = ch != 1 && dw == 2 * sw;
    let X = 0;
    for (let k = 0; k < SKIP_RUNS; k++) {
      const from = load<i32>(runs + (<usize>k << 3)), to = load<i32>(runs + (<usize>k << 3), 4);
      if (from >= to) continue;
      if (twice) enlargeRowRun2x(row, sw, ch, out, X, from, idx, wt);
      else enlargeRowRun(row, ch, out, X, from, idx, wt);
      X = to;
    }
    if (twice) enlargeRowRun2x(row, sw, ch, out, X, dw, idx, wt);
    else enlargeRowRun(row, ch, out, X, dw, idx, wt);
  }
}

/** Bytes [x0, x1) of one output row of the vertical pass (see enlargeColumns). */
@inline function enlargeColumnRun(r0: usize, r1: usize, r2: usize, r3: usize, w: usize, out: usize, x0: i32, x1: i32): void {
  const k0 = f32x4.splat(load<f32>(w)), k1 = f32x4.splat(load<f32>(w, 4));
  const k2 = f32x4.splat(load<f32>(w, 8)), k3 = f32x4.splat(load<f32>(w, 12));
  let x = x0;
  for (; x + 16 <= x1; x += 16) {
    const o = <usize>x << 2;
    const a = roundToInts((f32x4.add(f32x4.add(f32x4.mul(v128.load(r0 + o), k0), f32x4.mul(v128.load(r1 + o), k1)), f32x4.add(f32x4.mul(v128.load(r2 + o), k2), f32x4.mul(v128.load(r3 + o), k3)))));
    const b = roundToInts((f32x4.add(f32x4.add(f32x4.mul(v128.load(r0 + o, 16), k0), f32x4.mul(v128.load(r1 + o, 16), k1)), f32x4.add(f32x4.mul(v128.load(r2 + o, 16), k2), f32x4.mul(v128.load(r3 + o, 16), k3)))));
    const c = roundToInts((f32x4.add(f32x4.add(f32x4.mul(v128.load(r0 + o, 32), k0), f32x4.mul(v128.load(r1 + o, 32), k1)), f32x4.add(f32x4.mul(v128.load(r2 + o, 32), k2), f32x4.mul(v128.load(r3 + o, 32), k3)))));
    const d = roundToInts((f32x4.add(f32x4.add(f32x4.mul(v128.load(r0 + o, 48), k0), f32x4.mul(v128.load(r1 + o, 48), k1)), f32x4.add(f32x4.mul(v128.load(r2 + o, 48), k2), f32x4.mul(v128.load(r3 + o, 48), k3)))));
    v128.store(out + <usize>x, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d)));
  }
  const s0 = load<f32>(w), s1 = load<f32>(w, 4), s2 = load<f32>(w, 8), s3 = load<f32>(w, 12);
  for (; x < x1; x++) {
    const o = <usize>x << 2;
    // Rounded as the lanes above are (ties to even), so that a pixel comes out the same whichever loop takes it.
    const value = s0 * load<f32>(r0 + o) + s1 * load<f32>(r1 + o) + s2 * load<f32>(r2 + o) + s3 * load<f32>(r3 + o);
    store<u8>(out + <usize>x, <u8>i32x4.extract_lane(roundToInts(f32x4.splat(value)), 0));
  }
}

/**
 * Vertical pass: `rows` output rows of n bytes (pixels of ch bytes) at dst, row j = Σ_k wt[4j+k]·(float row
 * idx[4j+k] of `src`, n floats each), rounded and saturated; the pixel runs of row j's `skip` list are zeros.
 */
function enlargeColumns(src: usize, n: i32, ch: i32, dst: usize, rows: i32, idx: usize, wt: usize, skip: usize): void {
  const stride = <usize>n << 2;
  for (let j = 0; j < rows; j++) {
    const i = idx + (<usize>j << 4), w = wt + (<usize>j << 4);
    const r0 = src + <usize>load<i32>(i) * stride, r1 = src + <usize>load<i32>(i, 4) * stride;
    const r2 = src + <usize>load<i32>(i, 8) * stride, r3 = src + <usize>load<i32>(i, 12) * stride;
    const out = dst + <usize>j * <usize>n;
    const runs = skip + <usize>j * SKIP_ROW_BYTES;
    let x = 0;
    for (let k = 0; k < SKIP_RUNS; k++) {
      const from = load<i32>(runs + (<usize>k << 3)) * ch, to = load<i32>(runs + (<usize>k << 3), 4) * ch;
      if (from >= to) continue;
      enlargeColumnRun(r0, r1, r2, r3, w, out, x, from);
      memory.fill(out + <usize>from, 0, <usize>(to - from));
      x = to;
    }
    enlargeColumnRun(r0, r1, r2, r3, w, out, x, n);
  }
}

/**
 * One strip of a separable enlargement: the horizontal pass over the `rows` source rows the strip needs (into
 * `mid`), then the vertical pass to its `outRows` output rows at dst. `hSkip` (per source row) and `vSkip` (per
 * output row) list the output pixels left out, SKIP_RUNS runs a row: a source row's runs must lie in those of
 * every output row that takes it as a tap, so that no pixel computed reads a float left out.
 */
export function enlarge(
  src: usize, sw: i32, rows: i32, ch: i32, mid: usize, dw: i32, hIdx: usize, hWt: usize,
  dst: usize, outRows: i32, vIdx: usize, vWt: usize, hSkip: usize, vSkip: usize,
): void {
  enlargeRows(src, sw, rows, ch, mid, dw, hIdx, hWt, hSkip);
  enlargeColumns(mid, dw * ch, ch, dst, outRows, vIdx, vWt, vSkip);
}

/** Where the wrapper may lay out its buffers: the end of this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
