//! SWE-bench's cache levels and `--clean`: which images a run removes, and when, so that a long run keeps its
//! disk use bounded.
//!
//! Images come in three layers (base, environment, instance; with published images only the instance one). A
//! [`CacheLevel`] keeps the layers up to it; an image of a layer above it goes once nothing of the run needs it:
//! an instance image right after its instance is done (graded; with an agent, after its episode and its grading),
//! environment and base images at the end of the run, since instances share them. An image that was on the engine
//! when the run started is never removed unless [`CacheOptions::clean`]. As in SWE-bench's `run_evaluation.py`
//! (`should_remove`, `clean_images`), whose default is [`CacheLevel::Env`].
//!
//! [`ImageCache`] keeps the books: the images on every engine when the run started, the images of the run's
//! instances by layer, the planned uses still to come of each instance (an instance worked on twice, e.g. by
//! `--validate`'s two passes or two trajectories of one instance in a replay, keeps its image until the last one;
//! an instance done without a planned use goes at once), and the disk the run's images hold after each instance.
//! Docker goes through an [`ImageStore`] ([`HostImages`] on a pool of engines; a fake in the tests). A removal
//! that fails (an image a container of another run still uses) is a warning, never an error of the run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use srl_sandbox::{Hosts, ImagesDisk};

srl_core::choice_enum! {
    /// The image layers a run keeps (SWE-bench's `--cache_level`): everything above is removed once the run no
    /// longer needs it.
    #[derive(Default)]
    pub enum CacheLevel: "cache level" {
        /// Keep nothing the run made: instance images after their instance, environment and base images at the end.
        None = "none",
        /// Keep base images.
        Base = "base",
        /// Keep base and environment images; instance images go after their instance (SWE-bench's default).
        #[default]
        Env = "env",
        /// Keep every image.
        Instance = "instance",
    }
}

/// One of the three image layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Base,
    Env,
    Instance,
}

impl CacheLevel {
    /// Whether images of `layer` are kept at this level.
    pub fn keeps(self, layer: Layer) -> bool {
        let kept = match self {
            CacheLevel::None => return false,
            CacheLevel::Base => Layer::Base,
            CacheLevel::Env => Layer::Env,
            CacheLevel::Instance => Layer::Instance,
        };
        layer <= kept
    }
}

/// What a run removes: the level, and whether images that were there before the run go too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheOptions {
    pub level: CacheLevel,
    /// Also remove images above the level that existed before the run (SWE-bench's `--clean`).
    pub clean: bool,
}

impl CacheOptions {
    /// Keep every image (what a library caller gets without a cache).
    pub const KEEP_ALL: CacheOptions = CacheOptions { level: CacheLevel::Instance, clean: false };

    /// SWE-bench's `should_remove`: an image of `layer` goes when its layer is above the level and it was made by
    /// this run (or `clean`).
    pub fn removes(&self, layer: Layer, existed_before: bool) -> bool {
        !self.level.keeps(layer) && (self.clean || !existed_before)
    }
}

/// The images of one instance, by layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceImages {
    pub instance: String,
    /// `None` with published images (no separate environment layer).
    pub env: Option<String>,
    pub base: Option<String>,
}

impl InstanceImages {
    fn layers(&self) -> impl Iterator<Item = (Layer, &str)> {
        [(Layer::Instance, Some(&self.instance)), (Layer::Env, self.env.as_ref()), (Layer::Base, self.base.as_ref())]
            .into_iter()
            .filter_map(|(l, n)| n.map(|n| (l, n.as_str())))
    }
}

/// The Docker side of an [`ImageCache`]: engines by index, their images by `repo:tag`. Errors are messages: the
/// cache only logs them.
pub trait ImageStore {
    /// How many engines.
    fn engines(&self) -> usize;
    /// The name of engine `engine`, for messages.
    fn engine_name(&self, engine: usize) -> String;
    /// Every image the engine holds.
    fn names(&self, engine: usize) -> impl Future<Output = Result<HashSet<String>, String>> + Send;
    /// Remove `image` from the engine; `Ok(false)` when it is not there.
    fn remove(&self, engine: usize, image: &str) -> impl Future<Output = Result<bool, String>> + Send;
    /// The disk held by the images this cache reports on.
    fn disk(&self, engine: usize) -> impl Future<Output = Result<ImagesDisk, String>> + Send;
}

/// A pool of Docker engines as an [`ImageStore`]; its disk figure covers the images whose tag starts with one of
/// `prefixes` (`srl-swe/`, and the published images' prefix). Each call has a time limit; a down engine holds
/// nothing.
#[derive(Clone, Debug)]
pub struct HostImages {
    pub hosts: Hosts,
    pub prefixes: Vec<String>,
}

impl HostImages {
    const LIST_TIMEOUT: Duration = Duration::from_secs(60);
    /// Removing a large image deletes its files.
    const REMOVE_TIMEOUT: Duration = Duration::from_secs(300);
}

async fn limited<T>(limit: Duration, what: &str, f: impl Future<Output = srl_sandbox::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("{what}: no answer within {limit:?}")),
    }
}

impl ImageStore for HostImages {
    fn engines(&self) -> usize {
        self.hosts.hosts().len()
    }

    fn engine_name(&self, engine: usize) -> String {
        self.hosts.hosts()[engine].name.clone()
    }

    async fn names(&self, engine: usize) -> Result<HashSet<String>, String> {
        if let Some(why) = self.hosts.down_reason(engine) {
            return Err(format!("the engine is down ({why})"));
        }
        limited(Self::LIST_TIMEOUT, "listing images", self.hosts.hosts()[engine].sandbox.image_names()).await
    }

    async fn remove(&self, engine: usize, image: &str) -> Result<bool, String> {
        limited(Self::REMOVE_TIMEOUT, "removing an image", self.hosts.remove_image(engine, image)).await
    }

    async fn disk(&self, engine: usize) -> Result<ImagesDisk, String> {
        if let Some(why) = self.hosts.down_reason(engine) {
            return Err(format!("the engine is down ({why})"));
        }
        let sandbox = &self.hosts.hosts()[engine].sandbox;
        limited(Self::LIST_TIMEOUT, "listing images", sandbox.images_disk(&self.prefixes)).await
    }
}

/// The disk the reported images held: when the run started, after the latest instance, and at most.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFigures {
    pub start: Option<ImagesDisk>,
    pub now: Option<ImagesDisk>,
    pub peak: Option<ImagesDisk>,
}

/// What [`ImageCache::finish`] did, with what the run removed before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheReport {
    pub options: CacheOptions,
    /// Every image the run removed (`image` alone on a one-engine pool, else `image on ENGINE`), in order.
    pub removed: Vec<String>,
    /// Removals that failed (each logged as a warning).
    pub failed: usize,
    pub disk: DiskFigures,
}

#[derive(Debug, Default)]
struct Books {
    /// Per engine, the images there when the run started; `None` when they could not be listed (every image then
    /// counts as earlier).
    before: Vec<Option<HashSet<String>>>,
    /// The images of each instance of the run, by instance id.
    images: HashMap<String, InstanceImages>,
    /// Planned uses not yet done, by instance id.
    pending: HashMap<String, usize>,
    removed: Vec<String>,
    failed: usize,
    disk: DiskFigures,
}

impl Books {
    fn existed_before(&self, engine: usize, image: &str) -> bool {
        self.before.get(engine).is_none_or(|b| b.as_ref().is_none_or(|b| b.contains(image)))
    }
}

/// The image books of one run (see the module docs). Shared by the run's workers (`&self` everywhere).
#[derive(Debug)]
pub struct ImageCache<S = HostImages> {
    store: S,
    options: CacheOptions,
    books: Mutex<Books>,
}

impl<S: ImageStore> ImageCache<S> {
    /// Starts the books of a run over the images of its instances (`(instance id, images)`): lists what every
    /// engine holds now (call it before the run makes any image) and measures the disk.
    pub async fn start(
        store: S,
        options: CacheOptions,
        instances: impl IntoIterator<Item = (String, InstanceImages)>,
    ) -> Self {
        let mut before = Vec::with_capacity(store.engines());
        for e in 0..store.engines() {
            match store.names(e).await {
                Ok(names) => before.push(Some(names)),
                Err(err) => {
                    tracing::warn!(
                        engine = %store.engine_name(e),
                        "listing its images: {err}; every image there counts as made before the run"
                    );
                    before.push(None)
                }
            }
        }
        let images = instances.into_iter().collect();
        let cache = ImageCache { store, options, books: Mutex::new(Books { before, images, ..Books::default() }) };
        let disk = cache.measure().await;
        cache.with_books(|b| b.disk = DiskFigures { start: disk, now: disk, peak: disk });
        cache
    }

    pub fn options(&self) -> CacheOptions {
        self.options
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn with_books<T>(&self, f: impl FnOnce(&mut Books) -> T) -> T {
        f(&mut self.books.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Announces one use of each of these instances (an id per use): an instance image stays until its last
    /// planned use is [`ImageCache::instance_done`].
    pub fn plan<'a>(&self, instance_ids: impl IntoIterator<Item = &'a str>) {
        self.with_books(|b| {
            for id in instance_ids {
                *b.pending.entry(id.to_string()).or_default() += 1;
            }
        });
    }

    /// Registers an instance's images after the start (an instance the run did not name then).
    pub fn register(&self, instance_id: &str, images: InstanceImages) {
        self.with_books(|b| b.images.insert(instance_id.to_string(), images));
    }

    /// One use of `instance_id` is done: when it was the last planned one (or none was planned) and the level
    /// removes instance images, its instance image goes from every engine that has it and did not have it before
    /// the run (any engine, with `clean`). The disk is measured after it (and before a removal, for the peak).
    pub async fn instance_done(&self, instance_id: &str) {
        let image = self.with_books(|b| {
            let left = b.pending.get_mut(instance_id).map(|n| {
                *n = n.saturating_sub(1);
                *n
            });
            if left.unwrap_or(0) > 0 || self.options.level.keeps(Layer::Instance) {
                return None;
            }
            b.images.get(instance_id).map(|i| i.instance.clone())
        });
        if let Some(image) = image {
            // The peak counts the image about to go.
            self.remeasure().await;
            for e in 0..self.store.engines() {
                self.remove_if(e, Layer::Instance, &image).await;
            }
        }
        self.remeasure().await;
    }

    /// Removes `image` from engine `e` when the options say its layer goes.
    async fn remove_if(&self, e: usize, layer: Layer, image: &str) {
        let existed = self.with_books(|b| b.existed_before(e, image));
        if !self.options.removes(layer, existed) {
            return;
        }
        match self.store.remove(e, image).await {
            Ok(true) => {
                tracing::info!(image, engine = %self.store.engine_name(e), "removed the image (cache level {})", self.options.level);
                let name = if self.store.engines() > 1 {
                    format!("{image} on {}", self.store.engine_name(e))
                } else {
                    image.to_string()
                };
                self.with_books(|b| b.removed.push(name));
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(image, engine = %self.store.engine_name(e), "removing the image: {err}");
                self.with_books(|b| b.failed += 1);
            }
        }
    }

    /// The end of the run: every image of the run's instances above the level goes (instance images, then
    /// environment, then base images), unless it was there before the run and not `clean`. Measures the disk and
    /// returns what the run removed.
    pub async fn finish(&self) -> CacheReport {
        let mut by_layer: Vec<(Layer, String)> = self.with_books(|b| {
            let set: HashSet<(Layer, String)> =
                b.images.values().flat_map(|i| i.layers().map(|(l, n)| (l, n.to_string()))).collect();
            set.into_iter().collect()
        });
        // Children before their parents: instance, environment, base; by name within a layer.
        by_layer.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        by_layer.retain(|(l, _)| !self.options.level.keeps(*l));
        if !by_layer.is_empty() {
            for e in 0..self.store.engines() {
                let present = match self.store.names(e).await {
                    Ok(p) => p,
                    Err(err) => {
                        tracing::warn!(engine = %self.store.engine_name(e), "listing its images: {err}; none removed there");
                        continue;
                    }
                };
                for (layer, image) in by_layer.iter().filter(|(_, n)| present.contains(n)) {
                    self.remove_if(e, *layer, image).await;
                }
            }
        }
        self.remeasure().await;
        self.with_books(|b| CacheReport {
            options: self.options,
            removed: b.removed.clone(),
            failed: b.failed,
            disk: b.disk,
        })
    }

    /// The disk figures so far.
    pub fn disk(&self) -> DiskFigures {
        self.with_books(|b| b.disk)
    }

    /// The disk of the reported images over every engine; `None` when an engine could not say.
    async fn measure(&self) -> Option<ImagesDisk> {
        let mut total = ImagesDisk::default();
        for e in 0..self.store.engines() {
            match self.store.disk(e).await {
                Ok(d) => total += d,
                Err(err) => {
                    tracing::warn!(engine = %self.store.engine_name(e), "measuring its images: {err}");
                    return None;
                }
            }
        }
        Some(total)
    }

    async fn remeasure(&self) {
        let now = self.measure().await;
        self.with_books(|b| {
            b.disk.now = now;
            if let Some(n) = now
                && b.disk.peak.is_none_or(|p| n.bytes > p.bytes)
            {
                b.disk.peak = Some(n);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Engines as sets of image names; removals of `refused` images fail (a container of another run uses them);
    /// each image holds 100 bytes.
    struct Fake {
        engines: Vec<Mutex<HashSet<String>>>,
        refused: HashSet<String>,
        removals: Mutex<Vec<(usize, String)>>,
    }

    impl Fake {
        fn new(engines: &[&[&str]]) -> Fake {
            Fake {
                engines: engines.iter().map(|e| Mutex::new(e.iter().map(|s| s.to_string()).collect())).collect(),
                refused: HashSet::new(),
                removals: Mutex::new(Vec::new()),
            }
        }

        /// The run makes `image` on engine `e`.
        fn make(&self, e: usize, image: &str) {
            self.engines[e].lock().unwrap().insert(image.to_string());
        }

        fn has(&self, e: usize, image: &str) -> bool {
            self.engines[e].lock().unwrap().contains(image)
        }

        fn held(&self, e: usize) -> Vec<String> {
            let mut v: Vec<String> = self.engines[e].lock().unwrap().iter().cloned().collect();
            v.sort();
            v
        }
    }

    impl ImageStore for &Fake {
        fn engines(&self) -> usize {
            self.engines.len()
        }
        fn engine_name(&self, engine: usize) -> String {
            format!("h{engine}")
        }
        fn names(&self, engine: usize) -> impl Future<Output = Result<HashSet<String>, String>> + Send {
            let names = self.engines[engine].lock().unwrap().clone();
            async move { Ok(names) }
        }
        fn remove(&self, engine: usize, image: &str) -> impl Future<Output = Result<bool, String>> + Send {
            self.removals.lock().unwrap().push((engine, image.to_string()));
            let r = if self.refused.contains(image) {
                Err(format!("conflict: a container is using {image}"))
            } else {
                Ok(self.engines[engine].lock().unwrap().remove(image))
            };
            async move { r }
        }
        fn disk(&self, engine: usize) -> impl Future<Output = Result<ImagesDisk, String>> + Send {
            let n = self.engines[engine].lock().unwrap().len();
            async move { Ok(ImagesDisk { images: n, bytes: 100 * n as u64 }) }
        }
    }

    const BASE: &str = "srl-swe/base:b";
    const ENV: &str = "srl-swe/env.py:e";

    fn images(id: &str) -> (String, InstanceImages) {
        let images =
            InstanceImages { instance: format!("srl-swe/inst.{id}:i"), env: Some(ENV.into()), base: Some(BASE.into()) };
        (id.to_string(), images)
    }

    fn inst(id: &str) -> String {
        format!("srl-swe/inst.{id}:i")
    }

    async fn cache<'a>(fake: &'a Fake, level: CacheLevel, clean: bool, ids: &[&str]) -> ImageCache<&'a Fake> {
        ImageCache::start(fake, CacheOptions { level, clean }, ids.iter().copied().map(images)).await
    }

    /// The run makes the images of `id` (its env and base too when missing) on engine `e`.
    fn build(fake: &Fake, e: usize, id: &str) {
        for image in [BASE, ENV, inst(id).as_str()] {
            fake.make(e, image);
        }
    }

    #[test]
    fn levels_keep_the_layers_up_to_them() {
        use CacheLevel as C;
        use Layer as L;
        let kept = |c: C| [L::Base, L::Env, L::Instance].into_iter().filter(|&l| c.keeps(l)).collect::<Vec<_>>();
        assert_eq!(kept(C::None), Vec::<L>::new());
        assert_eq!(kept(C::Base), [L::Base]);
        assert_eq!(kept(C::Env), [L::Base, L::Env]);
        assert_eq!(kept(C::Instance), [L::Base, L::Env, L::Instance]);
        assert_eq!(C::default(), C::Env, "SWE-bench's default");
        assert_eq!("none".parse::<C>().unwrap(), C::None);
        let e = "all".parse::<C>().unwrap_err().to_string();
        assert!(e.contains("cache level") && e.contains("`none`, `base`, `env` or `instance`"), "{e}");
        // should_remove: above the level, and made by the run unless clean.
        let o = |level, clean| CacheOptions { level, clean };
        assert!(o(C::Env, false).removes(L::Instance, false));
        assert!(!o(C::Env, false).removes(L::Instance, true), "an earlier image stays without clean");
        assert!(o(C::Env, true).removes(L::Instance, true));
        assert!(!o(C::Env, true).removes(L::Env, true), "clean never goes below the level");
        assert!(o(C::None, false).removes(L::Base, false));
        assert!(!CacheOptions::KEEP_ALL.removes(L::Instance, false));
    }

    #[tokio::test]
    async fn env_level_removes_each_instance_image_after_its_instance_and_keeps_env_and_base() {
        let fake = Fake::new(&[&[]]);
        let c = cache(&fake, CacheLevel::Env, false, &["a", "b"]).await;
        assert_eq!(c.disk().start, Some(ImagesDisk { images: 0, bytes: 0 }));
        build(&fake, 0, "a");
        build(&fake, 0, "b");
        c.instance_done("a").await;
        assert!(!fake.has(0, &inst("a")), "a's image goes as soon as a is done");
        assert!(fake.has(0, &inst("b")) && fake.has(0, ENV), "b is still running; the env is shared");
        assert_eq!(c.disk().now, Some(ImagesDisk { images: 3, bytes: 300 }));
        assert_eq!(c.disk().peak, Some(ImagesDisk { images: 4, bytes: 400 }), "measured before a removal too");
        c.instance_done("b").await;
        let report = c.finish().await;
        assert_eq!(fake.held(0), [BASE, ENV]);
        assert_eq!(report.removed, [inst("a"), inst("b")]);
        assert_eq!((report.failed, report.disk.now), (0, Some(ImagesDisk { images: 2, bytes: 200 })));
    }

    #[tokio::test]
    async fn none_level_removes_what_the_run_made_and_keeps_earlier_images_unless_clean() {
        // The base and b's image were there before the run; the run makes the env and a's image.
        for clean in [false, true] {
            let fake = Fake::new(&[&[BASE, inst("b").as_str()]]);
            let c = cache(&fake, CacheLevel::None, clean, &["a", "b"]).await;
            build(&fake, 0, "a");
            c.instance_done("a").await;
            c.instance_done("b").await;
            assert!(!fake.has(0, &inst("a")));
            assert_eq!(fake.has(0, &inst("b")), !clean, "an earlier instance image goes only with clean");
            assert!(fake.has(0, ENV), "environment images stay until the end");
            let report = c.finish().await;
            if clean {
                assert_eq!(fake.held(0), Vec::<String>::new());
                assert_eq!(report.removed, [inst("a"), inst("b"), ENV.to_string(), BASE.to_string()]);
            } else {
                assert_eq!(fake.held(0), [BASE, inst("b").as_str()]);
                assert_eq!(report.removed, [inst("a"), ENV.to_string()], "children first");
            }
        }
    }

    #[tokio::test]
    async fn base_level_keeps_the_base_and_clean_takes_earlier_envs() {
        let fake = Fake::new(&[&[BASE, ENV]]);
        let c = cache(&fake, CacheLevel::Base, true, &["a"]).await;
        build(&fake, 0, "a");
        c.instance_done("a").await;
        c.finish().await;
        assert_eq!(fake.held(0), [BASE]);
    }

    #[tokio::test]
    async fn instance_level_keeps_everything_even_with_clean() {
        let fake = Fake::new(&[&[BASE]]);
        let c = cache(&fake, CacheLevel::Instance, true, &["a"]).await;
        build(&fake, 0, "a");
        c.instance_done("a").await;
        let report = c.finish().await;
        assert_eq!(fake.held(0), [BASE, ENV, inst("a").as_str()]);
        assert!(report.removed.is_empty() && fake.removals.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_image_stays_until_the_last_planned_use() {
        // Validation: gold then the empty control on the same instances; a replay of two trajectories of one.
        let fake = Fake::new(&[&[]]);
        let c = cache(&fake, CacheLevel::Env, false, &["a", "b"]).await;
        c.plan(["a", "b", "a"]);
        build(&fake, 0, "a");
        build(&fake, 0, "b");
        c.instance_done("a").await;
        assert!(fake.has(0, &inst("a")), "a second use of a is planned");
        c.instance_done("b").await;
        assert!(!fake.has(0, &inst("b")));
        c.instance_done("a").await;
        assert!(!fake.has(0, &inst("a")), "the last use");
        // An instance done without a planned use goes at once; a use past the plan removes nothing new.
        c.instance_done("a").await;
        assert_eq!(fake.removals.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn removal_failures_are_counted_and_the_run_goes_on() {
        let mut fake = Fake::new(&[&[]]);
        fake.refused.insert(inst("a"));
        let c = cache(&fake, CacheLevel::None, false, &["a", "b"]).await;
        build(&fake, 0, "a");
        build(&fake, 0, "b");
        c.instance_done("a").await;
        c.instance_done("b").await;
        let report = c.finish().await;
        // a's image is refused after its instance and again at the end; everything else goes.
        assert_eq!(report.failed, 2);
        assert_eq!(fake.held(0), [inst("a")]);
        assert_eq!(report.removed, [inst("b"), ENV.to_string(), BASE.to_string()]);
    }

    #[tokio::test]
    async fn each_engine_keeps_what_it_had_before_the_run() {
        // h0 had a's image before the run; the run made it on h1 (built there, or moved from h0).
        let fake = Fake::new(&[&[BASE, ENV, inst("a").as_str()], &[]]);
        let c = cache(&fake, CacheLevel::None, false, &["a"]).await;
        build(&fake, 1, "a");
        c.instance_done("a").await;
        assert!(fake.has(0, &inst("a")) && !fake.has(1, &inst("a")));
        let report = c.finish().await;
        assert_eq!(fake.held(0), [BASE, ENV, inst("a").as_str()]);
        assert!(fake.held(1).is_empty());
        let on_h1 = |i: &str| format!("{i} on h1");
        assert_eq!(report.removed, [on_h1(&inst("a")), on_h1(ENV), on_h1(BASE)]);
        assert_eq!(report.disk.start, Some(ImagesDisk { images: 3, bytes: 300 }));
        assert_eq!(report.disk.peak, Some(ImagesDisk { images: 6, bytes: 600 }));
    }

    #[tokio::test]
    async fn published_images_have_only_the_instance_layer() {
        let fake = Fake::new(&[&[]]);
        let published = InstanceImages { instance: "swebench/sweb.eval.x86_64.a:latest".into(), env: None, base: None };
        let opts = CacheOptions { level: CacheLevel::None, clean: false };
        let c = ImageCache::start(&fake, opts, [("a".to_string(), published.clone())]).await;
        fake.make(0, &published.instance);
        fake.make(0, "swebench/sweb.eval.x86_64.other:latest");
        c.instance_done("a").await;
        c.finish().await;
        assert_eq!(fake.held(0), ["swebench/sweb.eval.x86_64.other:latest"], "only the run's instances' images go");
    }
}
