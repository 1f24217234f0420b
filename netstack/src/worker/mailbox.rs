//! A worker's inbox: what the controlling thread and the other workers send it.

use std::any::Any;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::SegQueue;
use rustix::event::{eventfd, EventfdFlags};

/// What a worker is told, besides the service's own messages.
pub enum Envelope<M> {
    /// For [`crate::Service::on_message`].
    App(M),
    /// Stop at once, dropping connections.
    Stop,
    /// Stop accepting; finish in-flight work; exit when no connection is left.
    Quit,
    /// For the transport (e.g. a new listener set for the kernel transport).
    Control(Box<dyn Any + Send>),
}

/// Lock-free queue plus an eventfd that wakes the worker's loop when it blocks.
pub struct Mailbox<M> {
    queue: SegQueue<Envelope<M>>,
    notified: AtomicBool,
    wake: OwnedFd,
}

impl<M> Mailbox<M> {
    pub fn new() -> io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(Mailbox {
            queue: SegQueue::new(),
            notified: AtomicBool::new(false),
            wake,
        })
    }

    pub fn push(&self, msg: Envelope<M>) {
        self.queue.push(msg);
        // One eventfd write per batch: the receiver clears `notified` before draining.
        if !self.notified.swap(true, Ordering::AcqRel) {
            let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        }
    }

    /// Whether something was posted since the last drain: one atomic load, checked every turn.
    pub fn has_mail(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// The eventfd a blocking transport waits on besides its own descriptors.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Takes everything posted so far.
    pub fn drain(&self, mut each: impl FnMut(Envelope<M>)) {
        self.notified.store(false, Ordering::Release);
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut counter);
        while let Some(msg) = self.queue.pop() {
            each(msg);
        }
    }
}

/// One mailbox per worker, shared by the workers and the controlling thread.
pub type Mailboxes<M> = std::sync::Arc<Vec<Mailbox<M>>>;

/// `n` fresh mailboxes.
pub fn mailboxes<M>(n: usize) -> io::Result<Mailboxes<M>> {
    Ok(std::sync::Arc::new(
        (0..n).map(|_| Mailbox::new()).collect::<io::Result<_>>()?,
    ))
}
