//! Data-parallel training: the few collective operations `fit` needs, behind
//! one small trait, so the training loop has one code path for one process,
//! threads standing in for processes (tests), and MPI (feature `mpi`).
//!
//! Semantics follow Keras's `MirroredStrategy`: `batch_size` is the global
//! batch; each rank computes the loss and gradients of its contiguous shard
//! of every global batch ([`shard`]), the ranks sum the shards' gradients
//! weighted by shard size, and every rank applies the same update. The sum
//! runs in a fixed order (rank 0, 1, …, in f64), so every rank gets the same
//! bits and a run repeats bit for bit.

#[cfg(feature = "mpi")]
mod mpi;
mod threads;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
pub use threads::ThreadGroup;

/// The collective operations of a group of processes (ranks). Every rank
/// must make the same calls in the same order with buffers of equal length.
pub trait Communicator: Send + Sync {
    /// This process's index, `0..size()`; rank 0 writes files and prints.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `buf` on every rank by the element-wise sum over the ranks,
    /// added in rank order in f64 and rounded once, so all ranks get
    /// identical values, run after run.
    fn all_reduce_sum(&self, buf: &mut [f32]);
    /// Replaces `buf` on every rank by rank 0's bytes (any length).
    fn broadcast(&self, buf: &mut Vec<u8>);
    /// Waits until every rank has called it.
    fn barrier(&self);
    /// The machine this rank runs on, for messages.
    fn host_name(&self) -> String;
}

/// What data-parallel training cost so far (rank 0's view: its all-reduce
/// time includes waiting for slower ranks).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Distributed training steps run.
    pub steps: u64,
    /// f32 values all-reduced per step: the flat gradient, the reported
    /// values and any moving statistics.
    pub values_per_step: usize,
    /// Wall time of the steps, from gathering the shard to the update.
    pub step_seconds: f64,
    /// The part of it spent in the all-reduce.
    pub reduce_seconds: f64,
}

impl Stats {
    /// Bytes of the all-reduced buffer per step (each rank sends and
    /// receives this much; rank 0 gathers it from every other rank).
    pub fn bytes_per_step(&self) -> usize {
        self.values_per_step * 4
    }
}

/// The trivial group: one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _buf: &mut [f32]) {}
    fn broadcast(&self, _buf: &mut Vec<u8>) {}
    fn barrier(&self) {}
    fn host_name(&self) -> String {
        local_host_name()
    }
}

/// The rows `rank` of `size` ranks takes from a batch of `len` rows: a
/// contiguous range, the first `len % size` ranks one row longer. A rank may
/// get no rows (a batch smaller than the group).
pub fn shard(len: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let (base, extra) = (len / size, len % size);
    let start = rank * base + rank.min(extra);
    let end = start + base + usize::from(rank < extra);
    start.min(len)..end.min(len)
}

/// `out[i] = Σ_rank parts[rank][i]`, added in the order given in f64 and
/// rounded once: the one reduction every implementation uses.
pub(crate) fn sum_in_rank_order<'a>(parts: impl Iterator<Item = &'a [f32]>, out: &mut [f32]) {
    let mut acc = vec![0.0f64; out.len()];
    for part in parts {
        for (a, v) in acc.iter_mut().zip(part) {
            *a += f64::from(*v);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a as f32;
    }
}

/// The kernel's host name (no extra dependency for one file read).
pub(crate) fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether this process was started by an MPI launcher with more than one
/// rank (Open MPI, MPICH/Hydra, Slurm's PMI): `nn` built without the `mpi`
/// feature refuses to train alone N times.
pub fn launched_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
        .filter(|&n| n > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        for len in 0..12 {
            for size in 1..5 {
                let ranges: Vec<_> = (0..size).map(|r| shard(len, r, size)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[size - 1].end, len);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let lens: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{lens:?}");
            }
        }
        assert_eq!(shard(7, 0, 3), 0..3);
        assert_eq!(shard(7, 1, 3), 3..5);
        assert_eq!(shard(7, 2, 3), 5..7);
        assert_eq!(shard(1, 1, 2), 1..1);
    }
}
