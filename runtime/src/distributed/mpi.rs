//! The MPI group (feature `mpi`): `MPI_COMM_WORLD` through rsmpi.
//!
//! The sum is a gather to rank 0, a sum there in rank order, and a
//! broadcast back, not `MPI_Allreduce`: the library picks its reduction tree
//! by message size and rank count, so its float sums may differ from run to
//! run and between ranks, while this order is fixed. The cost is one more
//! message per step, which at these model sizes is latency, not bandwidth
//! (docs/distributed.md has the numbers).
//!
//! MPI's default error handler ends the whole job on a failed call, and
//! Open MPI's launcher ends it when a rank dies, so no collective here can
//! hang on a dead peer.

use std::sync::{Mutex, PoisonError};

use mpi::collective::{CommunicatorCollectives, Root};
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::Threading;

use super::{sum_in_rank_order, Communicator};
use crate::error::RuntimeError;

/// `MPI_COMM_WORLD`. MPI is finalized when this is dropped, so keep it alive
/// until the program ends (and drop it, rather than calling
/// `std::process::exit`, so the launcher sees a clean end).
pub struct Mpi {
    _universe: Universe,
    rank: usize,
    size: usize,
    /// MPI is initialized for serialized calls; this makes them so.
    lock: Mutex<()>,
}

impl Mpi {
    /// Initializes MPI (once per process).
    pub fn init() -> Result<Mpi, RuntimeError> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| RuntimeError::invalid("MPI is already initialized in this process; initialize it once"))?;
        let world = universe.world();
        let (rank, size) = (world.rank().max(0) as usize, world.size().max(1) as usize);
        Ok(Mpi { _universe: universe, rank, size, lock: Mutex::new(()) })
    }

    /// Ends every rank of the job with `code` (after this rank's message has
    /// been printed): the way out of an error only some ranks see, which
    /// would otherwise leave the others waiting in a collective.
    pub fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }

    fn world(&self) -> (std::sync::MutexGuard<'_, ()>, SimpleCommunicator) {
        (self.lock.lock().unwrap_or_else(PoisonError::into_inner), SimpleCommunicator::world())
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) {
        if self.size == 1 {
            return;
        }
        let (_guard, world) = self.world();
        let root = world.process_at_rank(0);
        if self.rank == 0 {
            let mut all = vec![0.0f32; buf.len() * self.size];
            root.gather_into_root(&buf[..], &mut all[..]);
            let n = buf.len().max(1);
            sum_in_rank_order(all.chunks(n), buf);
        } else {
            root.gather_into(&buf[..]);
        }
        root.broadcast_into(buf);
    }

    fn broadcast(&self, buf: &mut Vec<u8>) {
        if self.size == 1 {
            return;
        }
        let (_guard, world) = self.world();
        let root = world.process_at_rank(0);
        let mut len = buf.len() as u64;
        root.broadcast_into(&mut len);
        buf.resize(len as usize, 0);
        root.broadcast_into(&mut buf[..]);
    }

    fn barrier(&self) {
        let (_guard, world) = self.world();
        world.barrier();
    }

    fn host_name(&self) -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| super::local_host_name())
    }
}
