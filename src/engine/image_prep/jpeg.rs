//! A baseline and progressive JPEG decoder that reproduces libjpeg-turbo's output sample for sample, as Pillow
//! decodes JPEGs with it: the same "islow" integer IDCT (`jidctint.c`) with its range limiting, the same
//! "fancy" (triangle-filter) chroma upsampling (`jdsample.c`) and the same fixed-point YCbCr → RGB tables
//! (`jdcolor.c`). The `image` crate's decoder (zune-jpeg) uses another IDCT and colour conversion, which moves
//! some samples by up to 2 levels; the entropy decoding is lossless and the same in both.
//!
//! Only 8-bit Huffman-coded greyscale and three-component images are handled here; anything else (CMYK,
//! arithmetic coding, 12-bit, lossless) returns `Ok(None)` and goes to the `image` crate.
//!
//! Reference: https://github.com/libjpeg-turbo/libjpeg-turbo (jidctint.c, jdsample.c, jdcolor.c).

/// The decoded samples: `channels` (1 or 3) interleaved, row-major.
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

/// Zigzag position → natural (row-major) index, with 16 guard entries for corrupt runs past 63, as libjpeg's
/// `jpeg_natural_order`.
const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
    60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
];

#[derive(Clone, Default)]
struct Huffman {
    /// (code length, symbol) for every 9-bit prefix that completes a code.
    fast: Vec<(u8, u8)>,
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Self, String> {
        let mut h = Huffman { fast: vec![(0, 0); 512], maxcode: [-1; 18], values, ..Default::default() };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            let n = counts[len - 1] as usize;
            h.valptr[len] = k as i32;
            h.mincode[len] = code;
            for _ in 0..n {
                if len <= 9 {
                    let shift = 9 - len;
                    for fill in 0..(1 << shift) {
                        let idx = ((code << shift) | fill) as usize;
                        if idx >= 512 {
                            return Err("bad Huffman table".into());
                        }
                        h.fast[idx] = (len as u8, *h.values.get(k).ok_or("bad Huffman table")?);
                    }
                }
                code += 1;
                k += 1;
            }
            h.maxcode[len] = if n > 0 { code - 1 } else { -1 };
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if k > h.values.len() {
            return Err("bad Huffman table".into());
        }
        Ok(h)
    }
}

/// Entropy-coded bits, with 0xFF00 unstuffed; a marker (or the end of the data) reads as zero bits, as
/// libjpeg does.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits { data, pos, acc: 0, count: 0, at_marker: false }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                    (Some(0xFF), Some(0x00)) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    (Some(0xFF), _) | (None, _) => self.at_marker = true,
                    (Some(&b), _) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            self.acc |= (byte as u64) << (56 - self.count);
            self.count += 8;
        }
    }

    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.count -= n;
        v
    }

    fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        if self.count < 16 {
            self.fill();
        }
        let (len, sym) = *h.fast.get((self.acc >> 55) as usize).ok_or("missing Huffman table")?;
        if len > 0 {
            self.acc <<= len;
            self.count -= len as u32;
            return Ok(sym);
        }
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | ((self.acc >> (64 - len)) & 1) as i32;
            if code <= h.maxcode[len] {
                self.acc <<= len;
                self.count -= len as u32;
                let i = (h.valptr[len] + code - h.mincode[len]) as usize;
                return h.values.get(i).copied().ok_or_else(|| "bad Huffman code".to_string());
            }
        }
        Err("bad Huffman code".into())
    }

    /// Skip to the restart marker after this interval (libjpeg discards the partial byte).
    fn restart(&mut self) {
        self.acc = 0;
        self.count = 0;
        self.at_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            if self.data[self.pos] == 0xFF && self.data[self.pos + 1] != 0 && self.data[self.pos + 1] != 0xFF {
                return; // another marker: leave it for the segment parser
            }
            self.pos += 1;
        }
    }

    /// Position of the next marker after the entropy-coded data.
    fn end(&self) -> usize {
        let mut p = self.pos;
        while p + 1 < self.data.len() && !(self.data[p] == 0xFF && self.data[p + 1] != 0 && !(0xD0..=0xD7).contains(&self.data[p + 1])) {
            p += 1;
        }
        p
    }
}

/// A DC difference's bit count (at most 16 even in 16-bit-table files).
fn dc_symbol(s: u8) -> Result<u8, String> {
    if s > 16 {
        Err("bad DC code".into())
    } else {
        Ok(s)
    }
}

fn extend(v: u32, s: u8) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Blocks per row and column, padded to whole MCUs.
    bw: usize,
    bh: usize,
    coefs: Vec<i16>,
    dc: usize,
    ac: usize,
    pred: i32,
}

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    comps: Vec<Component>,
    hmax: usize,
    vmax: usize,
    mcus_x: usize,
    mcus_y: usize,
}

fn be16(d: &[u8], i: usize) -> Result<usize, String> {
    Ok(u16::from_be_bytes([*d.get(i).ok_or("unexpected end")?, *d.get(i + 1).ok_or("unexpected end")?]) as usize)
}

/// `Ok(None)`: a JPEG this decoder leaves to the `image` crate.
pub fn decode(d: &[u8]) -> Result<Option<Decoded>, String> {
    if d.get(0..2) != Some(&[0xFF, 0xD8]) {
        return Err("not a JPEG".into());
    }
    let mut qt = [[0u16; 64]; 4];
    let mut dc_tables: [Huffman; 4] = Default::default();
    let mut ac_tables: [Huffman; 4] = Default::default();
    let mut frame: Option<Frame> = None;
    let (mut restart_interval, mut jfif, mut adobe) = (0usize, false, None::<u8>);
    let mut i = 2;
    loop {
        if *d.get(i).ok_or("unexpected end")? != 0xFF {
            return Err("expected a marker".into());
        }
        while d.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *d.get(i).ok_or("unexpected end")?;
        i += 1;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = be16(d, i)?;
        let seg = d.get(i + 2..i + len).ok_or("segment runs past the end")?;
        match marker {
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err("two frame headers".into());
                }
                if seg.len() < 6 || seg[0] != 8 {
                    return Ok(None); // 12-bit
                }
                let (height, width, n) = (be16(seg, 1)?, be16(seg, 3)?, seg[5] as usize);
                if !(n == 1 || n == 3) || seg.len() < 6 + 3 * n || width == 0 || height == 0 {
                    return Ok(None);
                }
                if (width * height) as u64 > super::MAX_PIXELS {
                    return Err("image too large".into());
                }
                let mut comps = Vec::new();
                for c in 0..n {
                    let p = &seg[6 + 3 * c..9 + 3 * c];
                    let (h, v) = ((p[1] >> 4) as usize, (p[1] & 15) as usize);
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || p[2] > 3 {
                        return Err("bad sampling factors".into());
                    }
                    comps.push(Component { id: p[0], h, v, tq: p[2] as usize, bw: 0, bh: 0, coefs: vec![], dc: 0, ac: 0, pred: 0 });
                }
                let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
                let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
                if comps.iter().any(|c| hmax % c.h != 0 || vmax % c.v != 0) {
                    return Ok(None);
                }
                let (mcus_x, mcus_y) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
                for c in &mut comps {
                    c.bw = mcus_x * c.h;
                    c.bh = mcus_y * c.v;
                    c.coefs = vec![0; c.bw * c.bh * 64];
                }
                frame = Some(Frame { width, height, progressive: marker == 0xC2, comps, hmax, vmax, mcus_x, mcus_y });
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None), // lossless, hierarchical, arithmetic
            0xC4 => {
                let mut p = 0;
                while p < seg.len() {
                    let (class, id) = (seg[p] >> 4, (seg[p] & 15) as usize);
                    let counts: [u8; 16] = seg.get(p + 1..p + 17).ok_or("bad DHT")?.try_into().map_err(|_| "bad DHT")?;
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg.get(p + 17..p + 17 + total).ok_or("bad DHT")?.to_vec();
                    if id > 3 || class > 1 {
                        return Err("bad DHT".into());
                    }
                    let table = Huffman::new(&counts, values)?;
                    if class == 0 {
                        dc_tables[id] = table;
                    } else {
                        ac_tables[id] = table;
                    }
                    p += 17 + total;
                }
            }
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let (precision, id) = (seg[p] >> 4, (seg[p] & 15) as usize);
                    if id > 3 {
                        return Err("bad DQT".into());
                    }
                    for k in 0..64 {
                        qt[id][NATURAL[k]] = if precision == 0 {
                            *seg.get(p + 1 + k).ok_or("bad DQT")? as u16
                        } else {
                            be16(seg, p + 1 + 2 * k)? as u16
                        };
                    }
                    p += 1 + 64 * (precision as usize + 1);
                }
            }
            0xDD => restart_interval = be16(seg, 0)?,
            0xE0 if seg.starts_with(b"JFIF\0") => jfif = true,
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => adobe = Some(seg[11]),
            0xDA => {
                let f = frame.as_mut().ok_or("scan before frame header")?;
                let n = *seg.first().ok_or("bad SOS")? as usize;
                let mut scan = Vec::new();
                for s in 0..n {
                    let (id, tables) = (*seg.get(1 + 2 * s).ok_or("bad SOS")?, *seg.get(2 + 2 * s).ok_or("bad SOS")?);
                    let c = f.comps.iter().position(|c| c.id == id).ok_or("scan names an unknown component")?;
                    f.comps[c].dc = (tables >> 4) as usize & 3;
                    f.comps[c].ac = (tables & 15) as usize & 3;
                    scan.push(c);
                }
                let p = 1 + 2 * n;
                let (ss, se, ah, al) = (
                    *seg.get(p).ok_or("bad SOS")? as usize,
                    *seg.get(p + 1).ok_or("bad SOS")? as usize,
                    seg.get(p + 2).ok_or("bad SOS")? >> 4,
                    seg.get(p + 2).ok_or("bad SOS")? & 15,
                );
                let mut bits = Bits::new(d, i + len);
                decode_scan(f, &scan, &mut bits, &dc_tables, &ac_tables, restart_interval, (ss, se.min(63), ah, al))?;
                i = bits.end();
                continue;
            }
            _ => {}
        }
        i += len;
    }
    let f = frame.ok_or("no frame header")?;
    let n = f.comps.len();
    // libjpeg's colour-space guess for three components (jdapimin.c).
    let rgb = n == 3
        && !jfif
        && match adobe {
            Some(t) => t == 0,
            None => f.comps.iter().map(|c| c.id).eq([b'R', b'G', b'B']),
        };
    let planes: Vec<Vec<u8>> = f.comps.iter().map(|c| upsample(&f, c, &idct_plane(c, &qt[c.tq]))).collect();
    let (w, h) = (f.width, f.height);
    let mut data = vec![0u8; w * h * n];
    if n == 1 {
        data.copy_from_slice(&planes[0][..w * h]);
    } else {
        let tables = ColorTables::new();
        for (p, out) in data.chunks_exact_mut(3).enumerate() {
            let (y, cb, cr) = (planes[0][p], planes[1][p], planes[2][p]);
            if rgb {
                out.copy_from_slice(&[y, cb, cr]);
            } else {
                out.copy_from_slice(&tables.convert(y, cb, cr));
            }
        }
    }
    Ok(Some(Decoded { width: w, height: h, channels: n, data }))
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    f: &mut Frame,
    scan: &[usize],
    bits: &mut Bits,
    dc_tables: &[Huffman; 4],
    ac_tables: &[Huffman; 4],
    restart_interval: usize,
    (ss, se, ah, al): (usize, usize, u8, u8),
) -> Result<(), String> {
    for &c in scan {
        f.comps[c].pred = 0;
    }
    let mut eobrun = 0u32;
    let progressive = f.progressive;
    if progressive && (ss > se || (ss == 0 && se != 0) || (ss > 0 && scan.len() != 1)) {
        return Err("bad progressive scan".into());
    }
    // One component alone is coded in its own block order, not padded to whole MCUs.
    let single = scan.len() == 1;
    let (units_x, units_y) = if single {
        let c = &f.comps[scan[0]];
        let cw = (f.width * c.h).div_ceil(f.hmax);
        let ch = (f.height * c.v).div_ceil(f.vmax);
        (cw.div_ceil(8), ch.div_ceil(8))
    } else {
        (f.mcus_x, f.mcus_y)
    };
    let decode_block = |comp: &mut Component, block: usize, bits: &mut Bits, eobrun: &mut u32| -> Result<(), String> {
        let coefs = &mut comp.coefs[block * 64..block * 64 + 64];
        if !progressive {
            let s = dc_symbol(bits.decode(&dc_tables[comp.dc])?)?;
            comp.pred = comp.pred.wrapping_add(extend(bits.bits(s as u32), s));
            coefs[0] = comp.pred as i16;
            let mut k = 1;
            while k < 64 {
                let rs = bits.decode(&ac_tables[comp.ac])?;
                let (r, s) = ((rs >> 4) as usize, rs & 15);
                if s != 0 {
                    k += r;
                    coefs[NATURAL[k]] = extend(bits.bits(s as u32), s) as i16;
                } else if r == 15 {
                    k += 15;
                } else {
                    break;
                }
                k += 1;
            }
        } else if ss == 0 {
            if ah == 0 {
                let s = dc_symbol(bits.decode(&dc_tables[comp.dc])?)?;
                comp.pred = comp.pred.wrapping_add(extend(bits.bits(s as u32), s));
                coefs[0] = (comp.pred << al) as i16;
            } else if bits.bit() {
                coefs[0] |= 1 << al;
            }
        } else if ah == 0 {
            if *eobrun > 0 {
                *eobrun -= 1;
                return Ok(());
            }
            let mut k = ss;
            while k <= se {
                let rs = bits.decode(&ac_tables[comp.ac])?;
                let (r, s) = ((rs >> 4) as usize, rs & 15);
                if s != 0 {
                    k += r;
                    coefs[NATURAL[k]] = (extend(bits.bits(s as u32), s) << al) as i16;
                } else if r == 15 {
                    k += 15;
                } else {
                    *eobrun = (1 << r) + bits.bits(r as u32) - 1;
                    break;
                }
                k += 1;
            }
        } else {
            // AC refinement (jdphuff.c decode_mcu_AC_refine).
            let (p1, m1) = (1i16 << al, -1i16 << al);
            let mut k = ss;
            let refine = |c: &mut i16, bits: &mut Bits| {
                if bits.bit() && (*c & p1) == 0 {
                    *c = c.wrapping_add(if *c >= 0 { p1 } else { m1 });
                }
            };
            if *eobrun == 0 {
                while k <= se {
                    let rs = bits.decode(&ac_tables[comp.ac])?;
                    let (mut r, s) = ((rs >> 4) as i32, rs & 15);
                    let mut value = 0i16;
                    if s != 0 {
                        value = if bits.bit() { p1 } else { m1 };
                    } else if r != 15 {
                        *eobrun = (1 << r) + bits.bits(r as u32);
                        break;
                    }
                    while k <= se {
                        let c = &mut coefs[NATURAL[k]];
                        if *c != 0 {
                            refine(c, bits);
                        } else {
                            r -= 1;
                            if r < 0 {
                                break;
                            }
                        }
                        k += 1;
                    }
                    if value != 0 {
                        coefs[NATURAL[k]] = value;
                    }
                    k += 1;
                }
            }
            if *eobrun > 0 {
                while k <= se {
                    let c = &mut coefs[NATURAL[k]];
                    if *c != 0 {
                        refine(c, bits);
                    }
                    k += 1;
                }
                *eobrun -= 1;
            }
        }
        Ok(())
    };
    let mut done = 0usize;
    for uy in 0..units_y {
        for ux in 0..units_x {
            if restart_interval > 0 && done > 0 && done.is_multiple_of(restart_interval) {
                bits.restart();
                eobrun = 0;
                for &c in scan {
                    f.comps[c].pred = 0;
                }
            }
            if single {
                let comp = &mut f.comps[scan[0]];
                let block = uy * comp.bw + ux;
                decode_block(comp, block, bits, &mut eobrun)?;
            } else {
                for &c in scan {
                    let comp = &mut f.comps[c];
                    for v in 0..comp.v {
                        for h in 0..comp.h {
                            let block = (uy * comp.v + v) * comp.bw + ux * comp.h + h;
                            decode_block(comp, block, bits, &mut eobrun)?;
                        }
                    }
                }
            }
            done += 1;
        }
    }
    Ok(())
}

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's post-IDCT range limit: clamp to 0..=255 after re-centring, wrapping out-of-range values modulo
/// 1024 first exactly as its lookup table (`& RANGE_MASK`) does.
fn range_limit(x: i64) -> u8 {
    let wrapped = ((x + 512) & 1023) - 512;
    (wrapped + 128).clamp(0, 255) as u8
}

/// The even/odd butterfly of `jpeg_idct_islow`, on 8 values; returns the 8 outputs before descaling.
fn islow_1d(x: [i64; 8]) -> [i64; 8] {
    let (z2, z3) = (x[2], x[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (x[0] + x[4]) << CONST_BITS;
    let tmp1 = (x[0] - x[4]) << CONST_BITS;
    let (tmp10, tmp13, tmp11, tmp12) = (tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2);

    let (mut t0, mut t1, mut t2, mut t3) = (x[7], x[5], x[3], x[1]);
    let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
    let z5 = (z3 + z4) * FIX_1_175875602;
    t0 *= FIX_0_298631336;
    t1 *= FIX_2_053119869;
    t2 *= FIX_3_072711026;
    t3 *= FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    t0 += z1 + z3;
    t1 += z2 + z4;
    t2 += z2 + z3;
    t3 += z1 + z4;
    [tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3]
}

/// Dequantise and inverse-DCT every block of a component into a plane of `bw·8 × bh·8` samples.
fn idct_plane(c: &Component, q: &[u16; 64]) -> Vec<u8> {
    let stride = c.bw * 8;
    let mut plane = vec![0u8; stride * c.bh * 8];
    let mut ws = [0i64; 64];
    for by in 0..c.bh {
        for bx in 0..c.bw {
            let coefs = &c.coefs[(by * c.bw + bx) * 64..(by * c.bw + bx + 1) * 64];
            // Pass 1: columns, descaled to PASS1_BITS of extra precision.
            for col in 0..8 {
                let x: [i64; 8] = std::array::from_fn(|r| coefs[r * 8 + col] as i64 * q[r * 8 + col] as i64);
                let out = islow_1d(x);
                for r in 0..8 {
                    ws[r * 8 + col] = descale(out[r], CONST_BITS - PASS1_BITS);
                }
            }
            // Pass 2: rows, descaled by 8 and the PASS1_BITS, range-limited.
            for r in 0..8 {
                let x: [i64; 8] = ws[r * 8..r * 8 + 8].try_into().expect("8 values");
                let out = islow_1d(x);
                let dst = &mut plane[(by * 8 + r) * stride + bx * 8..(by * 8 + r) * stride + bx * 8 + 8];
                for (d, o) in dst.iter_mut().zip(out) {
                    *d = range_limit(descale(o, CONST_BITS + PASS1_BITS + 3));
                }
            }
        }
    }
    plane
}

/// A component's plane brought to the image size with libjpeg-turbo's upsampler for its sampling ratio.
fn upsample(f: &Frame, c: &Component, plane: &[u8]) -> Vec<u8> {
    let (w, h) = (f.width, f.height);
    let (fx, fy) = (f.hmax / c.h, f.vmax / c.v);
    let stride = c.bw * 8;
    // The component's real samples (the rest of the plane pads whole blocks).
    let (dw, dh) = ((w * c.h).div_ceil(f.hmax), (h * c.v).div_ceil(f.vmax));
    let at = |x: usize, y: usize| plane[y * stride + x] as i32;
    let mut out = vec![0u8; w * h];
    match (fx, fy) {
        (1, 1) => {
            for y in 0..h {
                out[y * w..(y + 1) * w].copy_from_slice(&plane[y * stride..y * stride + w]);
            }
        }
        (2, 1) if dw > 2 => {
            for y in 0..h {
                let row = fancy_row_h2(&(0..dw).map(|x| at(x, y)).collect::<Vec<_>>());
                for x in 0..w {
                    out[y * w + x] = row[x];
                }
            }
        }
        (1, 2) => {
            // h1v2_fancy_upsample: 3/4 nearer row + 1/4 further row, biases 1 (upper) and 2 (lower).
            for y in 0..h {
                let (near, v) = (y / 2, y % 2);
                let far = if v == 0 { near.saturating_sub(1) } else { (near + 1).min(dh - 1) };
                for x in 0..w {
                    out[y * w + x] = ((at(x, near) * 3 + at(x, far) + 1 + v as i32) >> 2) as u8;
                }
            }
        }
        (2, 2) if dw > 2 => {
            // h2v2_fancy_upsample: the triangle filter in both directions; rows above the first and below
            // the last real row repeat it (jdmainct.c).
            for y in 0..h {
                let (near, v) = (y / 2, y % 2);
                let far = if v == 0 { near.saturating_sub(1) } else { (near + 1).min(dh - 1) };
                let sums: Vec<i32> = (0..dw).map(|x| at(x, near) * 3 + at(x, far)).collect();
                for x in 0..w {
                    let (i, right) = (x / 2, x % 2 == 1);
                    let this = sums[i];
                    out[y * w + x] = match (right, i) {
                        (false, 0) => ((this * 4 + 8) >> 4) as u8,
                        (false, _) => ((this * 3 + sums[i - 1] + 8) >> 4) as u8,
                        (true, _) if i == dw - 1 => ((this * 4 + 7) >> 4) as u8,
                        (true, _) => ((this * 3 + sums[i + 1] + 7) >> 4) as u8,
                    };
                }
            }
        }
        _ => {
            // int_upsample / h2v1_upsample / h2v2_upsample: replicate samples.
            for y in 0..h {
                for x in 0..w {
                    out[y * w + x] = plane[(y / fy) * stride + x / fx];
                }
            }
        }
    }
    out
}

/// h2v1_fancy_upsample: each sample becomes two, 3/4 of itself + 1/4 of the neighbour on that side.
fn fancy_row_h2(row: &[i32]) -> Vec<u8> {
    let n = row.len();
    let mut out = Vec::with_capacity(2 * n);
    out.push(row[0] as u8);
    out.push(((row[0] * 3 + row[1] + 2) >> 2) as u8);
    for i in 1..n - 1 {
        let v = row[i] * 3;
        out.push(((v + row[i - 1] + 1) >> 2) as u8);
        out.push(((v + row[i + 1] + 2) >> 2) as u8);
    }
    out.push(((row[n - 1] * 3 + row[n - 2] + 1) >> 2) as u8);
    out.push(row[n - 1] as u8);
    out
}

/// jdcolor.c's YCbCr → RGB tables (16 fractional bits).
struct ColorTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i64; 256],
    cb_g: [i64; 256],
}

impl ColorTables {
    fn new() -> Self {
        const SCALEBITS: u32 = 16;
        const ONE_HALF: i64 = 1 << (SCALEBITS - 1);
        let fix = |x: f64| (x * (1i64 << SCALEBITS) as f64 + 0.5) as i64;
        let mut t = ColorTables { cr_r: [0; 256], cb_b: [0; 256], cr_g: [0; 256], cb_g: [0; 256] };
        for i in 0..256 {
            let x = i as i64 - 128;
            t.cr_r[i] = ((fix(1.40200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cb_b[i] = ((fix(1.77200) * x + ONE_HALF) >> SCALEBITS) as i32;
            t.cr_g[i] = -fix(0.71414) * x;
            t.cb_g[i] = -fix(0.34414) * x + ONE_HALF;
        }
        t
    }

    fn convert(&self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let (y, cb, cr) = (y as i32, cb as usize, cr as usize);
        let g = ((self.cb_g[cb] + self.cr_g[cr]) >> 16) as i32;
        [(y + self.cr_r[cr]).clamp(0, 255) as u8, (y + g).clamp(0, 255) as u8, (y + self.cb_b[cb]).clamp(0, 255) as u8]
    }
}
