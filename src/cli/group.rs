//! Joining the job when `nn` runs under an MPI launcher (`mpirun -np N nn
//! fit …`): every rank runs the same command; the runtime shards the
//! batches, and rank 0 alone prints and writes.

use std::sync::Arc;

use nn_runtime::distributed::{launched_ranks, Communicator};

/// This process's place in an MPI job of more than one rank.
pub(crate) struct Group {
    #[cfg(feature = "mpi")]
    mpi: Arc<nn_runtime::distributed::Mpi>,
}

impl Group {
    /// Joins the job if a launcher started more than one rank; `None` for a
    /// plain run. Without the `mpi` feature, a multi-rank launch is refused
    /// rather than training the same model N times side by side.
    pub(crate) fn join() -> Result<Option<Group>, String> {
        let Some(n) = launched_ranks() else { return Ok(None) };
        #[cfg(feature = "mpi")]
        {
            let _ = n;
            let mpi = nn_runtime::distributed::Mpi::init().map_err(|e| e.to_string())?;
            Ok(Some(Group { mpi: Arc::new(mpi) }))
        }
        #[cfg(not(feature = "mpi"))]
        Err(format!(
            "this nn was built without MPI support but was started as one of {n} ranks; rebuild it with \
             `cargo build --release --features mpi` (see README, \"Many machines\")"
        ))
    }

    pub(crate) fn communicator(&self) -> Arc<dyn Communicator> {
        #[cfg(feature = "mpi")]
        {
            self.mpi.clone()
        }
        #[cfg(not(feature = "mpi"))]
        unreachable!("a group exists only with the mpi feature")
    }

    /// Ends the command: on success, MPI is finalized when the group drops;
    /// on an error, this rank prints it with its rank and host and ends the
    /// whole job, since the other ranks may be waiting for it in a collective.
    pub(crate) fn finish(self, result: super::CmdResult) -> super::CmdResult {
        match result {
            Ok(code) => Ok(code),
            Err(message) => {
                let comm = self.communicator();
                eprintln!("error: rank {} of {} on host `{}`: {message}", comm.rank(), comm.size(), comm.host_name());
                #[cfg(feature = "mpi")]
                self.mpi.abort(1);
                #[cfg(not(feature = "mpi"))]
                Err(message)
            }
        }
    }
}
