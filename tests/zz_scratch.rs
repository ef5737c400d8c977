use nlu_lab::engine::image_prep;
#[test]
fn compare_with_pil() {
    let mut names: Vec<_> = std::fs::read_dir("/tmp/jpegbig").unwrap().filter_map(|e| {
        let p = e.unwrap().path(); (p.extension()? == "jpg").then_some(p)
    }).collect();
    names.sort();
    for p in names {
        let b = std::fs::read(&p).unwrap();
        let want = match std::fs::read(format!("{}.rgb", p.display())) { Ok(w) => w, Err(_) => continue };
        match image_prep::decode_rgb(&b) {
            Ok((rgb, info)) => {
                let got = rgb.as_raw();
                let n = got.len().min(want.len());
                let maxd = got[..n].iter().zip(&want[..n]).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap_or(0);
                let cnt = got[..n].iter().zip(&want[..n]).filter(|(a, b)| a != b).count();
                println!("{:24} {:>4}x{:<4} {:22} len_ok={} max|d|={} differing={}", p.file_name().unwrap().to_string_lossy(), info.width, info.height, info.decoder, got.len()==want.len(), maxd, cnt);
            }
            Err(e) => println!("{}: ERROR {e}", p.display()),
        }
    }
}
#[test]
fn time_big() {
    let b = std::fs::read("/tmp/jpegbig/big.jpg").unwrap();
    let cfg = image_prep::PreprocessConfig::default();
    let t = std::time::Instant::now();
    let p = image_prep::prepare(&b, &cfg).unwrap();
    println!("big prepare {:?} {}", t.elapsed(), p.info.decoder);
}
