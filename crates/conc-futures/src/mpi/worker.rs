//! A worker rank's loop: receive a task from the manager, run it, send the reply,
//! until the manager says stop.

use std::time::Duration;

use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, Rank};

use super::backoff::Backoff;
use super::wire::{self, Failure, MAX_MESSAGE, TAG_RESULT, TAG_STOP, TAG_TASK, Task};

/// Serves `manager` over `comm` until it sends [`TAG_STOP`]. A panicking task is a
/// failed reply; the loop carries on.
pub(crate) fn serve<C: Communicator>(comm: &C, manager: Rank, ceiling: Duration) {
    let from = comm.process_at_rank(manager);
    let mut backoff = Backoff::new(ceiling);
    loop {
        let Some(status) = from.immediate_probe() else {
            backoff.pause();
            continue;
        };
        backoff.reset();
        let (bytes, _) = from.receive_vec_with_tag::<u8>(status.tag());
        match status.tag() {
            TAG_STOP => return,
            TAG_TASK => {
                let (id, reply) = match wire::decode::<Task>(&bytes) {
                    Ok(task) => (task.id, wire::run(&task)),
                    // Unreadable: nobody can be told which task it was.
                    Err(why) => {
                        log::error!("an MPI worker dropped a task it could not read: {why:?}");
                        continue;
                    }
                };
                let message = match wire::encode(&(id, reply)) {
                    Ok(bytes) if bytes.len() <= MAX_MESSAGE => bytes,
                    Ok(bytes) => too_big(id, bytes.len()),
                    Err(failure) => wire::encode(&(id, Err::<Vec<u8>, _>(failure)))
                        .expect("a failure always encodes"),
                };
                from.send_with_tag(&message[..], TAG_RESULT);
            }
            other => log::warn!("an MPI worker ignored a message with tag {other}"),
        }
    }
}

/// The reply saying a result was too big for one MPI message.
fn too_big(id: u64, len: usize) -> Vec<u8> {
    let failure = Failure::Transport(format!(
        "the result is {len} bytes; one MPI message carries at most {MAX_MESSAGE}"
    ));
    wire::encode(&(id, Err::<Vec<u8>, _>(failure))).expect("a failure always encodes")
}
