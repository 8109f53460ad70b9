//! A fault-injecting, byte-counting `ObjectStore` over `object_store`'s
//! `InMemory`, for the store properties: the property arms one fault before
//! a step (the n-th put, the n-th part of a multipart upload, completing a
//! multipart upload, the n-th delete), runs the step, and disarms it; and it
//! reads how many bytes reached the backend meanwhile.
//!
//! An injected fault fails *before* the operation has any effect, like a
//! network error on the way to the server: the object is not written, the
//! part not stored, nothing deleted.
//!
//! `ObjectStore` and `MultipartUpload` are `async_trait` traits; the methods
//! below are written out as that macro expands them (boxed futures with the
//! same lifetime parameters), so this crate needs no `async-trait`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, UploadPart,
};

/// Which operation the armed fault fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The n-th (from 0) single put: a backup object or a manifest.
    Put(u8),
    /// The n-th part of a multipart upload.
    Part(u8),
    /// Completing a multipart upload.
    Complete,
    /// The n-th delete.
    Delete(u8),
}

#[derive(Debug, Default)]
struct Armed {
    fault: Option<Fault>,
    puts: u8,
    parts: u8,
    deletes: u8,
    /// Whether the armed fault has fired.
    fired: bool,
}

impl Armed {
    /// Counts one operation of `kind` and says whether it must fail.
    fn hit(&mut self, kind: fn(u8) -> Fault, counter: fn(&mut Armed) -> &mut u8) -> bool {
        let n = counter(self);
        let this = kind(*n);
        *n = n.saturating_add(1);
        if self.fault == Some(this) {
            self.fired = true;
            true
        } else {
            false
        }
    }
}

/// Counters of what reached the backend.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bytes of every single put and multipart part that reached the store.
    pub bytes: AtomicU64,
    /// Single puts and multipart parts that reached the store.
    pub writes: AtomicU64,
    /// Multipart uploads started.
    pub multipart: AtomicU64,
    /// Deletes that reached the store.
    pub deletes: AtomicU64,
}

/// What was written and deleted since a [`Faulty::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Traffic {
    pub bytes: u64,
    pub writes: u64,
    pub multipart: u64,
    pub deletes: u64,
}

/// The wrapper; clone the `Arc` to hand it to a `BackupStore`.
#[derive(Debug, Default)]
pub(crate) struct Faulty {
    inner: InMemory,
    armed: Arc<Mutex<Armed>>,
    counters: Arc<Counters>,
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic { store: "faulty", source: format!("injected fault: {what}").into() }
}

fn lock(m: &Mutex<Armed>) -> MutexGuard<'_, Armed> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Faulty {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Arms `fault` (or nothing) for the next step, resetting the counts.
    pub(crate) fn arm(&self, fault: Option<Fault>) {
        *lock(&self.armed) = Armed { fault, ..Armed::default() };
    }

    /// Disarms; says whether the armed fault fired.
    pub(crate) fn disarm(&self) -> bool {
        std::mem::take(&mut *lock(&self.armed)).fired
    }

    /// The traffic so far.
    pub(crate) fn snapshot(&self) -> Traffic {
        let c = &self.counters;
        Traffic {
            bytes: c.bytes.load(Ordering::SeqCst),
            writes: c.writes.load(Ordering::SeqCst),
            multipart: c.multipart.load(Ordering::SeqCst),
            deletes: c.deletes.load(Ordering::SeqCst),
        }
    }

    /// The traffic since `before`.
    pub(crate) fn since(&self, before: Traffic) -> Traffic {
        let now = self.snapshot();
        Traffic {
            bytes: now.bytes - before.bytes,
            writes: now.writes - before.writes,
            multipart: now.multipart - before.multipart,
            deletes: now.deletes - before.deletes,
        }
    }
}

impl std::fmt::Display for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

impl ObjectStore for Faulty {
    fn put_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<PutResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if lock(&self.armed).hit(Fault::Put, |a| &mut a.puts) {
                return Err(injected("put"));
            }
            let len = payload.content_length() as u64;
            let result = self.inner.put_opts(location, payload, opts).await;
            if result.is_ok() {
                self.counters.bytes.fetch_add(len, Ordering::SeqCst);
                self.counters.writes.fetch_add(1, Ordering::SeqCst);
            }
            result
        })
    }

    fn put_multipart_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        opts: PutMultipartOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<Box<dyn MultipartUpload>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let inner = self.inner.put_multipart_opts(location, opts).await?;
            self.counters.multipart.fetch_add(1, Ordering::SeqCst);
            let upload: Box<dyn MultipartUpload> =
                Box::new(FaultyUpload { inner, armed: self.armed.clone(), counters: self.counters.clone() });
            Ok(upload)
        })
    }

    fn get_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        options: GetOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<GetResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.get_opts(location, options)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Each location is checked against the armed fault before the
        // inner store sees it; a failed one never reaches it.
        let armed = self.armed.clone();
        let counters = self.counters.clone();
        let passed = locations.filter_map(move |l| {
            let out = match l {
                Ok(_) if lock(&armed).hit(Fault::Delete, |a| &mut a.deletes) => Some(Err(injected("delete"))),
                Ok(path) => {
                    counters.deletes.fetch_add(1, Ordering::SeqCst);
                    Some(Ok(path))
                }
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        });
        // Failed ones go around the inner store; the rest go through it, in order.
        let inner = self.inner.clone();
        passed
            .then(move |l| {
                let inner = inner.clone();
                async move {
                    match l {
                        Ok(path) => {
                            let one = futures::stream::once(futures::future::ready(Ok(path))).boxed();
                            let mut s = inner.delete_stream(one);
                            s.next().await.unwrap_or_else(|| Err(injected("delete stream ended")))
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_delimiter<'life0, 'life1, 'async_trait>(
        &'life0 self,
        prefix: Option<&'life1 Path>,
    ) -> BoxFuture<'async_trait, object_store::Result<ListResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.list_with_delimiter(prefix)
    }

    fn copy_opts<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        from: &'life1 Path,
        to: &'life2 Path,
        options: CopyOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.copy_opts(from, to, options)
    }
}

/// A multipart upload whose parts and completion can fail.
#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    armed: Arc<Mutex<Armed>>,
    counters: Arc<Counters>,
}

impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if lock(&self.armed).hit(Fault::Part, |a| &mut a.parts) {
            return Box::pin(futures::future::ready(Err(injected("part"))));
        }
        let len = data.content_length() as u64;
        let counters = self.counters.clone();
        let part = self.inner.put_part(data);
        Box::pin(async move {
            part.await?;
            counters.bytes.fetch_add(len, Ordering::SeqCst);
            counters.writes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn complete<'life0, 'async_trait>(&'life0 mut self) -> BoxFuture<'async_trait, object_store::Result<PutResult>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if lock(&self.armed).fault == Some(Fault::Complete) {
                lock(&self.armed).fired = true;
                return Err(injected("complete"));
            }
            self.inner.complete().await
        })
    }

    fn abort<'life0, 'async_trait>(&'life0 mut self) -> BoxFuture<'async_trait, object_store::Result<()>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.abort()
    }
}
