//! Parity of `similarity` with CPython's difflib: the committed fixture (tests/difflib/pairs.jsonl, made by
//! tests/difflib/make_fixture.py), and a recomputation by python3 itself when it is present.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use srl_reward::similarity;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_trajectories() -> PathBuf {
    let p = root().join("../shared/data/trajectories");
    assert!(p.is_dir(), "the shared data is missing: expected {} (see ../shared/data/README.md)", p.display());
    p
}

fn call_of(text: &str) -> &str {
    let i = text.find("<function=").expect("a call");
    let j = text.rfind("</function>").expect("a call end");
    &text[i..j + "</function>".len()]
}

fn apply_ops(s: &str, ops: &Value) -> String {
    let mut cps: Vec<char> = s.chars().collect();
    for op in ops.as_array().unwrap() {
        let op = op.as_array().unwrap();
        let pos = op[1].as_u64().unwrap() as usize;
        match op[0].as_str().unwrap() {
            "d" => {
                let n = op[2].as_u64().unwrap() as usize;
                cps.drain(pos..(pos + n).min(cps.len()));
            }
            "i" => {
                let ins: Vec<char> = op[2].as_str().unwrap().chars().collect();
                cps.splice(pos..pos, ins);
            }
            "r" => {
                let ins: Vec<char> = op[2].as_str().unwrap().chars().collect();
                cps.splice(pos..pos + 1, ins);
            }
            other => panic!("unknown op {other}"),
        }
    }
    cps.into_iter().collect()
}

struct Pair {
    a: String,
    b: String,
    bits: u64,
    kind: String,
}

fn load_fixture() -> Vec<Pair> {
    let text = std::fs::read_to_string(root().join("tests/difflib/pairs.jsonl")).expect("fixture");
    let shared = shared_trajectories();
    let mut cache: std::collections::HashMap<String, Value> = Default::default();
    let mut resolve = |r: &Value, ops: &Value| -> String {
        let file = r["file"].as_str().unwrap().to_string();
        let doc = cache.entry(file.clone()).or_insert_with(|| {
            serde_json::from_str(&std::fs::read_to_string(shared.join(&file)).expect("shared trajectory")).unwrap()
        });
        let msg = r["msg"].as_u64().unwrap() as usize;
        apply_ops(call_of(doc["messages"][msg]["content"].as_str().unwrap()), ops)
    };
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let (a, b) = if v.get("a").is_some() {
                (v["a"].as_str().unwrap().to_string(), v["b"].as_str().unwrap().to_string())
            } else {
                (resolve(&v["a_ref"], &v["a_ops"]), resolve(&v["b_ref"], &v["b_ops"]))
            };
            Pair { a, b, bits: v["bits"].as_u64().unwrap(), kind: v["kind"].as_str().unwrap().to_string() }
        })
        .collect()
}

#[test]
fn fixture_matches_cpython_bit_for_bit() {
    let pairs = load_fixture();
    assert!(pairs.len() >= 3000, "fixture too small: {}", pairs.len());
    let mut bad = Vec::new();
    for (n, p) in pairs.iter().enumerate() {
        let got = similarity(&p.a, &p.b);
        if got.to_bits() != p.bits {
            bad.push(format!("line {} ({}): got {got:?}, want {:?}", n + 1, p.kind, f64::from_bits(p.bits)));
        }
    }
    assert!(bad.is_empty(), "{} of {} pairs differ:\n{}", bad.len(), pairs.len(), bad[..bad.len().min(10)].join("\n"));
}

/// A small deterministic generator (xorshift64*), so the test needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn string(&mut self, alphabet: &[char], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }
}

fn python3() -> Option<&'static str> {
    Command::new("python3").arg("--version").output().ok().filter(|o| o.status.success()).map(|_| "python3")
}

/// Asks CPython for the ratio of each pair.
fn cpython_bits(pairs: &[(String, String)]) -> Vec<u64> {
    let script = "import sys, json, struct, difflib\n\
for line in sys.stdin:\n    p = json.loads(line)\n    r = difflib.SequenceMatcher(None, p[0], p[1]).ratio()\n    print(struct.unpack('<Q', struct.pack('<d', r))[0])\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = String::new();
    for (a, b) in pairs {
        input.push_str(&serde_json::to_string(&(a, b)).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "python3 failed");
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn cpython_recomputes_the_fixture_and_fresh_random_pairs() {
    let Some(_) = python3() else {
        eprintln!("python3 is not installed: the committed fixture is checked by the other test");
        return;
    };
    let mut pairs: Vec<(String, String)> = load_fixture().into_iter().map(|p| (p.a, p.b)).collect();
    let fixture_len = pairs.len();
    let fixture_bits: Vec<u64> = load_fixture().iter().map(|p| p.bits).collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let alphabets: [&[char]; 4] = [
        &['a', 'b'],
        &['a', 'b', 'c', ' ', '\n'],
        &['x', 'y', 'z', '(', ')', '_', '=', ' ', '\n', 'é', '😀', '中'],
        &['a', 'a', 'a', 'a', 'b'],
    ];
    for i in 0..1500 {
        let alpha = alphabets[i % alphabets.len()];
        let max = [20, 80, 210, 450][rng.below(4)];
        pairs.push((rng.string(alpha, max), rng.string(alpha, max)));
    }
    let want = cpython_bits(&pairs);
    assert_eq!(want.len(), pairs.len());
    assert_eq!(&want[..fixture_len], &fixture_bits[..], "the committed fixture is stale: re-run make_fixture.py");
    for ((a, b), w) in pairs.iter().zip(&want) {
        let got = similarity(a, b);
        assert_eq!(got.to_bits(), *w, "a={a:?} b={b:?}: got {got:?}, want {:?}", f64::from_bits(*w));
    }
}
