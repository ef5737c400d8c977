//! A baseline and progressive JPEG decoder that reproduces libjpeg-turbo's output sample for sample, as Pillow
//! decodes JPEGs with it: the same "islow" integer IDCT (`jidctint.c`) with its range limiting, the same
//! "fancy" (triangle-filter) chroma upsampling (`jdsample.c`) and the same fixed-point YCbCr → RGB tables
//! (`jdcolor.c`). The `image` crate's decoder (zune-jpeg) uses another IDCT and colour conversion, which moves
//! some samples by up to 2 levels; the entropy decoding is lossless and the same in both.
//!
//! Only 8-bit Huffman-coded greyscale and three-component images are decoded here; CMYK (and fractional sampling
//! ratios) return `Ok(None)` and go to the `image` crate. Arithmetic coding, 12-bit samples, lossless and
//! hierarchical JPEGs are refused with a message saying so (the `image` crate reads none of them). Every file,
//! ours or not, is first held to a work bound ([`MAX_SCANS`], [`MAX_SCAN_PASSES`]) read from its marker
//! structure, so that a file of thousands of empty scans is refused at once rather than decoded for minutes.
//! The structural checks follow libjpeg's (the same files are errors there); tests/jpeg_corpus.rs and the
//! fuzz harness tests/jpeg_fuzz.rs hold the decoder to them.
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

/// The JPEG spec's standard Huffman tables (K.3; libjpeg-turbo's jstdhuff.c): (DC, AC) for slots 0 (luminance) and
/// 1 (chrominance), as (code counts per length, symbols).
type TableSpec = ([u8; 16], &'static [u8]);
const STD_TABLES: [(TableSpec, TableSpec); 2] = [
    (
        ([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        ([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125], &[
            1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8, 35, 66, 177, 193,
            21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37, 38, 39, 40, 41, 42, 52, 53, 54, 55,
            56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88, 89, 90, 99, 100, 101, 102, 103, 104,
            105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148,
            149, 150, 151, 152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183,
            184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218,
            225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
        ]),
    ),
    (
        ([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        ([0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119], &[
            0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145, 161, 177, 193, 9,
            35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24, 25, 26, 38, 39, 40, 41, 42, 53,
            54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88, 89, 90, 99, 100, 101, 102,
            103, 104, 105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 130, 131, 132, 133, 134, 135, 136, 137, 138,
            146, 147, 148, 149, 150, 151, 152, 153, 154, 162, 163, 164, 165, 166, 167, 168, 169, 170, 178, 179, 180,
            181, 182, 183, 184, 185, 186, 194, 195, 196, 197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215,
            216, 217, 218, 226, 227, 228, 229, 230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247, 248, 249, 250,
        ]),
    ),
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
                            return Err("its Huffman table (DHT segment) has more codes than fit".into());
                        }
                        h.fast[idx] = (len as u8, *h.values.get(k).ok_or("its Huffman table (DHT segment) is malformed")?);
                    }
                }
                code += 1;
                k += 1;
            }
            h.maxcode[len] = if n > 0 { code - 1 } else { -1 };
            // More codes of this length than the code space holds (jdhuff.c: JERR_BAD_HUFF_TABLE).
            if code >= 1 << len && n > 0 {
                return Err("its Huffman table (DHT segment) has more codes than fit".into());
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if k > h.values.len() {
            return Err("its Huffman table (DHT segment) is malformed".into());
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
                match self.data.get(self.pos) {
                    Some(0xFF) => {
                        // 0xFF, any fill bytes 0xFF, then 0x00 is one stuffed 0xFF (jdhuff.c fill_bit_buffer).
                        let mut q = self.pos + 1;
                        while self.data.get(q) == Some(&0xFF) {
                            q += 1;
                        }
                        if self.data.get(q) == Some(&0x00) {
                            byte = 0xFF;
                            self.pos = q + 1;
                        } else {
                            self.at_marker = true;
                        }
                    }
                    None => self.at_marker = true,
                    Some(&b) => {
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
    /// The quantization table, latched at the component's first scan.
    q: Option<[u16; 64]>,
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
    Ok(u16::from_be_bytes([*d.get(i).ok_or(TRUNCATED)?, *d.get(i + 1).ok_or(TRUNCATED)?]) as usize)
}

const TRUNCATED: &str = "it ends before the image does (truncated)";

/// More scans than this are refused before anything is decoded: libjpeg-turbo's own fuzzers set its scan limit
/// (`TJPARAM_SCANLIMIT`) to 500, and encoders write about 10 (mozjpeg's searched scripts a few dozen).
pub const MAX_SCANS: usize = 500;

/// The blocks all scans together decode may be at most this many times the frame's blocks. libjpeg's standard
/// progressive script decodes under 5 times the frame; a file of empty scans, each of which still walks every
/// block of the frame, is the JPEG format's known denial of service.
pub const MAX_SCAN_PASSES: usize = 32;

/// One marker segment, in file order, up to the end-of-image marker.
struct Segment {
    marker: u8,
    /// After the length field.
    body: std::ops::Range<usize>,
    /// SOS: where the entropy-coded data after the header ends (the next marker that is not RSTn).
    data_end: usize,
}

/// The first marker at or after `p` that ends entropy-coded data: 0xFF, any 0xFF fill bytes, then a byte that is
/// neither 0x00 (a stuffed 0xFF) nor RSTn. The end of the data if there is none.
fn entropy_end(d: &[u8], mut p: usize) -> usize {
    while p < d.len() {
        if d[p] != 0xFF {
            p += 1;
            continue;
        }
        let mut q = p + 1;
        while d.get(q) == Some(&0xFF) {
            q += 1;
        }
        match d.get(q) {
            Some(0x00 | 0xD0..=0xD7) => p = q + 1,
            Some(_) => return p,
            None => return d.len(),
        }
    }
    d.len()
}

/// Every marker segment up to EOI. Bytes that are not a marker where one belongs are skipped, as libjpeg's
/// `next_marker` does (with a warning).
fn segments(d: &[u8]) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut i = 2;
    loop {
        let marker = loop {
            while *d.get(i).ok_or(TRUNCATED)? != 0xFF {
                i += 1;
            }
            while d.get(i) == Some(&0xFF) {
                i += 1;
            }
            let m = *d.get(i).ok_or(TRUNCATED)?;
            i += 1;
            if m != 0 {
                break m;
            }
        };
        match marker {
            0xD9 => return Ok(out),
            0xD8 => return Err("it has a second start-of-image marker".into()),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = be16(d, i)?;
        if len < 2 {
            return Err(format!("a marker segment (0xFF{marker:02X}) gives its length as {len}"));
        }
        let body = i + 2..i + len;
        if body.end > d.len() {
            return Err(TRUNCATED.into());
        }
        let data_end = if marker == 0xDA { entropy_end(d, body.end) } else { body.end };
        out.push(Segment { marker, body, data_end });
        i = data_end;
    }
}

/// The frame's block geometry from its SOF segment, if it is well formed (else the decoder reports it).
struct Geometry {
    width: usize,
    height: usize,
    /// (component id, h, v)
    comps: Vec<(u8, usize, usize)>,
    hmax: usize,
    vmax: usize,
}

impl Geometry {
    fn parse(seg: &[u8]) -> Option<Self> {
        let n = *seg.get(5)? as usize;
        let (height, width) = (be16(seg, 1).ok()?, be16(seg, 3).ok()?);
        let comps: Vec<_> =
            (0..n).map(|c| Some((*seg.get(6 + 3 * c)?, (*seg.get(7 + 3 * c)? >> 4) as usize, (seg[7 + 3 * c] & 15) as usize))).collect::<Option<_>>()?;
        if n == 0 || width == 0 || height == 0 || comps.iter().any(|&(_, h, v)| !(1..=4).contains(&h) || !(1..=4).contains(&v)) {
            return None;
        }
        let hmax = comps.iter().map(|c| c.1).max()?;
        let vmax = comps.iter().map(|c| c.2).max()?;
        Some(Geometry { width, height, comps, hmax, vmax })
    }

    fn mcus(&self) -> (usize, usize) {
        (self.width.div_ceil(8 * self.hmax), self.height.div_ceil(8 * self.vmax))
    }

    /// Blocks of the whole frame, padded to whole MCUs (what the coefficient buffers hold).
    fn blocks(&self) -> usize {
        let (mx, my) = self.mcus();
        self.comps.iter().map(|&(_, h, v)| mx * h * my * v).sum()
    }

    /// Blocks one scan over these components (indices into `comps`) decodes.
    fn scan_blocks(&self, scan: &[usize]) -> usize {
        if let [c] = scan {
            let (_, h, v) = self.comps[*c];
            let (cw, ch) = ((self.width * h).div_ceil(self.hmax), (self.height * v).div_ceil(self.vmax));
            cw.div_ceil(8) * ch.div_ceil(8)
        } else {
            let (mx, my) = self.mcus();
            mx * my * scan.iter().map(|&c| self.comps[c].1 * self.comps[c].2).sum::<usize>()
        }
    }
}

fn is_sof(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// The work bound, checked on the marker structure alone before anything is decoded, so that it also holds for
/// the files that go on to the `image` crate: at most [`MAX_SCANS`] scans, and at most [`MAX_SCAN_PASSES`] times
/// the frame's blocks decoded over all of them.
fn check_work(d: &[u8], segs: &[Segment]) -> Result<(), String> {
    let scans = segs.iter().filter(|s| s.marker == 0xDA).count();
    if scans > MAX_SCANS {
        return Err(format!(
            "it has {scans} scans (SOS segments); at most {MAX_SCANS} are accepted (encoders write about 10)"
        ));
    }
    let Some(g) = segs.iter().find(|s| is_sof(s.marker)).and_then(|s| Geometry::parse(&d[s.body.clone()])) else {
        return Ok(());
    };
    let mut work = 0usize;
    for s in segs.iter().filter(|s| s.marker == 0xDA) {
        let seg = &d[s.body.clone()];
        let n = seg.first().map_or(0, |&n| n as usize);
        let scan: Vec<usize> =
            (0..n).filter_map(|k| seg.get(1 + 2 * k).and_then(|id| g.comps.iter().position(|c| c.0 == *id))).collect();
        work += g.scan_blocks(&scan);
    }
    let frame = g.blocks();
    if work > MAX_SCAN_PASSES * frame {
        return Err(format!(
            "its {scans} scans would decode {work} blocks, more than {MAX_SCAN_PASSES} times the image's {frame} blocks"
        ));
    }
    Ok(())
}

/// `Ok(None)`: a JPEG this decoder leaves to the `image` crate (four components, sampling ratios that are not
/// whole numbers, or entropy-coded data so damaged that libjpeg would go on with warnings, which is not
/// reproduced here). `Err`: a file no decoder should take (damaged structure, unsupported coding, over a
/// limit), with a message that completes "This JPEG file cannot be decoded: …".
pub fn decode(d: &[u8]) -> Result<Option<Decoded>, String> {
    if d.get(0..2) != Some(&[0xFF, 0xD8]) {
        return Err("it does not start with a JPEG start-of-image marker".into());
    }
    let segs = segments(d)?;
    check_work(d, &segs)?;
    let mut qt: [Option<[u16; 64]>; 4] = [None; 4];
    // libjpeg-turbo supplies the standard tables (JPEG spec K.3) for slots 0 and 1 that the file does not define
    // (Motion-JPEG frames leave them out), as `std_huff_tables` in jstdhuff.c.
    let mut dc_tables: [Huffman; 4] = Default::default();
    let mut ac_tables: [Huffman; 4] = Default::default();
    for (slot, (dc, ac)) in STD_TABLES.iter().enumerate() {
        dc_tables[slot] = Huffman::new(&dc.0, dc.1.to_vec()).expect("standard table");
        ac_tables[slot] = Huffman::new(&ac.0, ac.1.to_vec()).expect("standard table");
    }
    let mut frame: Option<Frame> = None;
    // The frame is decoded here only when it has 1 or 3 components in whole-number sampling ratios; otherwise the
    // segments are still checked, and the `image` crate decodes it.
    let mut ours = true;
    let (mut restart_interval, mut jfif, mut adobe) = (0usize, false, None::<u8>);
    for s in &segs {
        let seg = &d[s.body.clone()];
        match s.marker {
            0xC3 | 0xC7 | 0xCB | 0xCF => {
                return Err(format!("it is a lossless JPEG (SOF{}), which the app does not read: please save it as PNG", s.marker - 0xC0))
            }
            0xC5 | 0xC6 | 0xCD | 0xCE => {
                return Err(format!("it is a hierarchical JPEG (SOF{}), which the app does not read: please save it as an ordinary JPEG or PNG", s.marker - 0xC0))
            }
            0xC9 | 0xCA => {
                return Err(format!(
                    "it is arithmetic-coded (SOF{}), which the app does not read: please save it as an ordinary (Huffman-coded) JPEG or PNG",
                    s.marker - 0xC0
                ))
            }
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err("it has two frame headers (SOF)".into());
                }
                if seg.len() < 6 {
                    return Err("its frame header (SOF) is too short".into());
                }
                if seg[0] != 8 {
                    return Err(format!(
                        "it has {}-bit samples; only 8-bit JPEGs can be read (please save it as an 8-bit JPEG or PNG)",
                        seg[0]
                    ));
                }
                let (height, width, n) = (be16(seg, 1)?, be16(seg, 3)?, seg[5] as usize);
                if !(1..=4).contains(&n) || n == 2 {
                    return Err(format!("its frame header lists {n} components (1 for grey, 3 for colour or 4 for CMYK are read)"));
                }
                if seg.len() < 6 + 3 * n {
                    return Err("its frame header (SOF) is too short for its components".into());
                }
                if width == 0 || height == 0 {
                    return Err(format!("its frame header gives the image size as {width}×{height}"));
                }
                if (width * height) as u64 > super::MAX_PIXELS {
                    return Err(format!("it is {width}×{height} pixels, over the {} megapixel limit", super::MAX_PIXELS / 1_000_000));
                }
                let mut comps = Vec::new();
                for c in 0..n {
                    let p = &seg[6 + 3 * c..9 + 3 * c];
                    let (h, v) = ((p[1] >> 4) as usize, (p[1] & 15) as usize);
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                        return Err(format!("component {} has sampling factors {h}×{v} (each must be 1 to 4)", p[0]));
                    }
                    if p[2] > 3 {
                        return Err(format!("component {} names quantization table {} (only 0 to 3 exist)", p[0], p[2]));
                    }
                    comps.push(Component { id: p[0], h, v, tq: p[2] as usize, bw: 0, bh: 0, coefs: vec![], dc: 0, ac: 0, pred: 0, q: None });
                }
                let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
                let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
                ours = n != 4 && comps.iter().all(|c| hmax % c.h == 0 && vmax % c.v == 0);
                let (mcus_x, mcus_y) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
                for c in &mut comps {
                    c.bw = mcus_x * c.h;
                    c.bh = mcus_y * c.v;
                    if ours {
                        c.coefs = vec![0; c.bw * c.bh * 64];
                    }
                }
                frame = Some(Frame { width, height, progressive: s.marker == 0xC2, comps, hmax, vmax, mcus_x, mcus_y });
            }
            0xC4 => {
                let bad = || "its Huffman table (DHT segment) is malformed".to_string();
                let mut p = 0;
                while p < seg.len() {
                    let (class, id) = (seg[p] >> 4, (seg[p] & 15) as usize);
                    if id > 3 || class > 1 {
                        return Err(format!("it defines Huffman table {id} of class {class} (only 0 to 3, of class 0 or 1, exist)"));
                    }
                    let counts: [u8; 16] = seg.get(p + 1..p + 17).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    if total > 256 {
                        return Err(bad());
                    }
                    let values = seg.get(p + 17..p + 17 + total).ok_or_else(bad)?.to_vec();
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
                    let (wide, id) = (seg[p] >> 4 != 0, (seg[p] & 15) as usize);
                    if id > 3 {
                        return Err(format!("it defines quantization table {id} (only 0 to 3 exist)"));
                    }
                    let mut table = [0u16; 64];
                    for k in 0..64 {
                        let at = if wide { p + 1 + 2 * k } else { p + 1 + k };
                        table[NATURAL[k]] = if wide { be16(seg, at).ok() } else { seg.get(at).map(|&b| b as usize) }
                            .ok_or("its quantization table (DQT segment) is cut short")? as u16;
                    }
                    qt[id] = Some(table);
                    p += if wide { 129 } else { 65 };
                }
            }
            0xDD => restart_interval = be16(seg, 0)?,
            // libjpeg counts an APP0 as JFIF only with its full 14 bytes.
            0xE0 if seg.starts_with(b"JFIF\0") && seg.len() >= 14 => jfif = true,
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => adobe = Some(seg[11]),
            0xDA => {
                let f = frame.as_mut().ok_or("a scan comes before the frame header")?;
                let bad_sos = || "its scan header (SOS) is malformed".to_string();
                let n = *seg.first().ok_or_else(bad_sos)? as usize;
                if !(1..=4).contains(&n) || seg.len() < 4 + 2 * n {
                    return Err(bad_sos());
                }
                let mut scan = Vec::new();
                for k in 0..n {
                    let (id, tables) = (seg[1 + 2 * k], seg[2 + 2 * k]);
                    let c = f.comps.iter().position(|c| c.id == id).ok_or_else(|| {
                        format!("a scan names component {id}, which the frame header does not list")
                    })?;
                    f.comps[c].dc = (tables >> 4) as usize;
                    f.comps[c].ac = (tables & 15) as usize;
                    scan.push(c);
                }
                let p = 1 + 2 * n;
                let (ss, se, ah, al) = (seg[p] as usize, seg[p + 1] as usize, seg[p + 2] >> 4, seg[p + 2] & 15);
                // jdphuff.c start_pass_phuff_decoder's checks (JERR_BAD_PROGRESSION).
                if f.progressive
                    && (if ss == 0 { se != 0 } else { ss > se || se > 63 || n != 1 } || (ah != 0 && al + 1 != ah) || al > 13)
                {
                    return Err(format!("it has an invalid progressive scan (Ss {ss}, Se {se}, Ah {ah}, Al {al})"));
                }
                let mcu_blocks: usize = scan.iter().map(|&c| f.comps[c].h * f.comps[c].v).sum();
                if n > 1 && mcu_blocks > 10 {
                    return Err(format!("a scan's MCU has {mcu_blocks} blocks (at most 10 are allowed)"));
                }
                if !ours {
                    continue;
                }
                for &c in &scan {
                    let comp = &mut f.comps[c];
                    let (needs_dc, needs_ac) = if f.progressive { (ss == 0 && ah == 0, ss > 0) } else { (true, true) };
                    for (needed, slot, tables, class) in [(needs_dc, comp.dc, &dc_tables, "DC"), (needs_ac, comp.ac, &ac_tables, "AC")] {
                        if needed && tables.get(slot).is_none_or(|t| t.fast.is_empty()) {
                            return Err(format!("a scan uses {class} Huffman table {slot}, which the file never defines"));
                        }
                    }
                    // libjpeg latches a component's quantization table at its first scan (jdinput.c).
                    if comp.q.is_none() {
                        comp.q = Some(qt[comp.tq].ok_or_else(|| {
                            format!("a scan uses quantization table {}, which the file never defines", comp.tq)
                        })?);
                    }
                }
                let mut bits = Bits::new(&d[..s.data_end], s.body.end);
                if decode_scan(f, &scan, &mut bits, &dc_tables, &ac_tables, restart_interval, (ss, se, ah, al)).is_err() {
                    // Corrupt entropy-coded data: libjpeg warns and goes on in a way not reproduced here.
                    return Ok(None);
                }
            }
            _ => {}
        }
    }
    let f = frame.ok_or("it has no frame header (SOF)")?;
    if !ours {
        return Ok(None);
    }
    let n = f.comps.len();
    // libjpeg's colour-space guess for three components (jdapimin.c).
    let rgb = n == 3
        && !jfif
        && match adobe {
            Some(t) => t == 0,
            None => f.comps.iter().map(|c| c.id).eq([b'R', b'G', b'B']),
        };
    let planes: Vec<Vec<u8>> = f.comps.iter().map(|c| upsample(&f, c, &idct_plane(c, &c.q.unwrap_or([0; 64])))).collect();
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
