//! Blocking work from Lua: a native function queues a job on the pool and
//! returns a ticket; the Lua side yields with it (`await`), and the worker
//! resumes the coroutine with what the job's `finish` makes of the output.

use crate::pool::{Completions, Job, Output, Panicked, Pool};
use mlua::{Lua, MultiValue};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Turns a job's output into the values `await` returns, on the worker thread.
pub type Finish = Box<dyn FnOnce(&Lua, Output) -> mlua::Result<MultiValue>>;

struct Blocking {
    pool: Arc<Pool>,
    completions: Arc<Completions>,
    pending: RefCell<HashMap<u64, Finish>>,
}

/// Gives a Lua state the pool and the worker's completion queue.
pub fn attach(lua: &Lua, pool: Arc<Pool>, completions: Arc<Completions>) {
    lua.set_app_data(Blocking {
        pool,
        completions,
        pending: RefCell::new(HashMap::new()),
    });
}

/// Queues `job`; the coroutine that called this must then `await` the ticket.
pub fn submit(lua: &Lua, job: Job, finish: Finish) -> mlua::Result<u64> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let b = lua
        .app_data_ref::<Blocking>()
        .ok_or_else(|| mlua::Error::runtime("blocking work is only possible inside a request"))?;
    let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
    b.pending.borrow_mut().insert(ticket, finish);
    b.pool.submit(ticket, job, b.completions.clone());
    Ok(ticket)
}

/// The values the coroutine waiting on `ticket` resumes with.
pub fn finish(lua: &Lua, ticket: u64, out: Output) -> mlua::Result<MultiValue> {
    let finish = lua
        .app_data_ref::<Blocking>()
        .and_then(|b| b.pending.borrow_mut().remove(&ticket));
    match finish {
        _ if out.is::<Panicked>() => Err(mlua::Error::runtime("a blocking job failed")),
        Some(f) => f(lua, out),
        None => Err(mlua::Error::runtime("unknown blocking job")),
    }
}

/// Forgets a ticket whose request went away.
pub fn discard(lua: &Lua, ticket: u64) {
    if let Some(b) = lua.app_data_ref::<Blocking>() {
        b.pending.borrow_mut().remove(&ticket);
    }
}
