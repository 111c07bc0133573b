//! The data-parallel parts of `fit` and `evaluate` (see
//! `crate::distributed` for the semantics). One process takes none of these
//! paths' collective work: it runs the fused training step as before.
//!
//! A distributed step: each rank gathers its shard of the global batch, runs
//! the shard graph (reports + flat gradient), and puts into one buffer its
//! gradient and batch-mean reports scaled by `shard / batch`, its summed
//! statistics, and its updated moving statistics scaled the same way. One
//! all-reduce turns that into the global batch's mean gradient (each
//! sample's loss counted once; regularization, being in every shard's loss
//! with weights summing to one, counted once), the global reports, and the
//! shard-size-weighted mean of the moving statistics. Every rank then applies
//! the same update with the optimizer graph.

use std::sync::Arc;
use std::time::Instant;

use nn_compiler::train::Reduction;

use super::batches::{Batch, MeanTracker};
use super::named::Bound;
use super::resume::FitState;
use crate::distributed::{shard, Communicator};
use crate::error::RuntimeError;
use crate::model::{CallData, GraphKind, Model};
use crate::optim::learning_rate_at;
use crate::vars::{VarStore, Variable};

impl Model {
    /// Trains and evaluates with `comm`'s group from now on: `fit` shards
    /// every global batch over the ranks, and only rank 0 writes weights and
    /// checkpoints or prints progress. Every rank must make the same calls.
    pub fn set_communicator(&mut self, comm: Arc<dyn Communicator>) {
        self.comm = comm;
    }

    /// The group this model trains with (one process unless set).
    pub fn communicator(&self) -> &Arc<dyn Communicator> {
        &self.comm
    }

    /// The cost of the data-parallel steps run so far.
    pub fn distributed_stats(&self) -> crate::distributed::Stats {
        self.dist_stats
    }

    /// Whether this process is rank 0, the one that writes and prints.
    pub fn is_chief(&self) -> bool {
        self.comm.rank() == 0
    }

    /// One optimizer step on the global batch `chunk`; returns the global
    /// batch's loss and metrics.
    pub(super) fn train_step(
        &mut self,
        data: &Bound<'_>,
        chunk: &[usize],
        batch: &mut Batch,
        epoch: usize,
        names: &[String],
    ) -> Result<Vec<Vec<f64>>, RuntimeError> {
        if self.comm.size() == 1 {
            batch.fill(data, chunk)?;
            return self.step_on(batch, chunk.len(), epoch, names);
        }
        let started = Instant::now();
        let comm = Arc::clone(&self.comm);
        let mine = &chunk[shard(chunk.len(), comm.rank(), comm.size())];
        let kind = if data.weights.is_some() { GraphKind::WeightedShardGradients } else { GraphKind::ShardGradients };
        let sizes = self.report_sizes(kind, names.len())?;
        let state = self.state_updates(kind)?;
        let params: usize = self.weights.iter().filter(|v| v.trainable).map(Variable::numel).sum();
        let reports: usize = sizes.iter().sum();
        let state_len: usize = state.iter().map(|&i| self.weights.at(i).numel()).sum();
        let mut buf = vec![0.0f32; params + reports + state_len];
        let reductions = self.metric_reductions();
        let global = chunk.len() as f64;
        if !mine.is_empty() {
            batch.fill(data, mine)?;
            let call = CallData {
                x: &batch.x,
                y: &batch.y,
                grads: &[],
                learning_rate: 0.0,
                step: (self.iterations() + 1) as f32,
                ones: &batch.ones,
                sample_weights: &batch.w,
            };
            let outs = self.run_kind(kind, &call, mine.len())?;
            let flat = outs.get(names.len()).ok_or_else(|| {
                RuntimeError::Engine(format!("the shard graph returned {} outputs, fewer than expected", outs.len()))
            })?;
            let share = mine.len() as f64 / global;
            for (b, g) in buf[..params].iter_mut().zip(flat.iter()) {
                *b = (f64::from(*g) * share) as f32;
            }
            let mut at = params;
            for (k, (out, &n)) in outs.iter().zip(&sizes).enumerate() {
                // Means are weighted by shard size; statistics are plain sums.
                let scale = match reductions.get(k) {
                    Some(Reduction::Statistics(_)) => 1.0,
                    _ => share,
                };
                for (b, v) in buf[at..at + n].iter_mut().zip(out.iter()) {
                    *b = (f64::from(*v) * scale) as f32;
                }
                at += n;
            }
            for &i in &state {
                for (b, v) in buf[at..].iter_mut().zip(&self.weights.at(i).data) {
                    *b = (f64::from(*v) * share) as f32;
                }
                at += self.weights.at(i).numel();
            }
        }
        let reduce_start = Instant::now();
        comm.all_reduce_sum(&mut buf);
        let reduce_seconds = reduce_start.elapsed().as_secs_f64();

        let compiled = self.compiled_ref()?;
        let lr = learning_rate_at(&compiled.schedule, compiled.learning_rate, self.iterations(), epoch);
        let grads = vec![buf[..params].to_vec()];
        let call = CallData {
            x: &grads,
            y: &[],
            grads: &[],
            learning_rate: lr as f32,
            step: (self.iterations() + 1) as f32,
            ones: &[],
            sample_weights: &[],
        };
        // The update graph has no batch dimension; 1 is a valid placeholder.
        self.run_kind(GraphKind::ApplyFlatGradients, &call, 1)?;
        self.count_update();
        let mut at = params + reports;
        for &i in &state {
            let var = self.weights.at_mut(i);
            let n = var.data.len();
            var.data.copy_from_slice(&buf[at..at + n]);
            at += n;
        }
        let mut values = Vec::with_capacity(sizes.len());
        let mut at = params;
        for &n in &sizes {
            values.push(buf[at..at + n].iter().map(|v| f64::from(*v)).collect());
            at += n;
        }
        let stats = &mut self.dist_stats;
        stats.steps += 1;
        stats.values_per_step = buf.len();
        stats.reduce_seconds += reduce_seconds;
        stats.step_seconds += started.elapsed().as_secs_f64();
        Ok(values)
    }

    /// The rows of an evaluation batch this rank evaluates.
    pub(super) fn my_rows<'a>(&self, chunk: &'a [usize]) -> &'a [usize] {
        &chunk[shard(chunk.len(), self.comm.rank(), self.comm.size())]
    }

    /// Sums an evaluation's running values over the ranks.
    pub(super) fn reduce_tracker(&mut self, tracker: &mut MeanTracker, kind: GraphKind) -> Result<(), RuntimeError> {
        if self.comm.size() == 1 {
            return Ok(());
        }
        let sizes = self.report_sizes(kind, self.metric_names().len())?;
        tracker.reduce(&sizes, &*self.comm);
        Ok(())
    }

    /// Element counts of a graph's first `n` outputs (the reports).
    fn report_sizes(&mut self, kind: GraphKind, n: usize) -> Result<Vec<usize>, RuntimeError> {
        let graph = self.ensure_prepared(kind)?;
        Ok(graph
            .outputs
            .iter()
            .take(n)
            .map(|(_, id)| graph.shape(*id).known_dims().unwrap_or_default().iter().product::<usize>().max(1))
            .collect())
    }

    /// The model variables `kind` updates itself (moving statistics), as
    /// positions in the weight store.
    fn state_updates(&mut self, kind: GraphKind) -> Result<Vec<usize>, RuntimeError> {
        let graph = self.ensure_prepared(kind)?;
        let names: Vec<String> = graph.updates.iter().map(|(v, _)| graph.var(*v).name.clone()).collect();
        Ok(names.iter().filter_map(|n| self.weights.position(n)).collect())
    }

    /// Makes every rank start from rank 0's state (weights, optimizer
    /// slots, step, learning rate, seeds) and epoch: initial weights or a
    /// checkpoint rank 0 resumed from. Returns the epoch to start at.
    pub(super) fn sync_from_chief(&mut self, first_epoch: usize) -> Result<usize, RuntimeError> {
        if self.comm.size() == 1 {
            return Ok(first_epoch);
        }
        let comm = Arc::clone(&self.comm);
        let mut bytes = if comm.rank() == 0 { self.state_bytes(first_epoch) } else { Vec::new() };
        comm.broadcast(&mut bytes);
        if comm.rank() == 0 {
            return Ok(first_epoch);
        }
        self.restore_state(&bytes).map_err(|e| {
            RuntimeError::Engine(format!("rank {} could not take rank 0's training state: {e}", comm.rank()))
        })
    }

    fn state_bytes(&self, first_epoch: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let lr = self.compiled.as_ref().map_or(0.0, |c| c.learning_rate);
        for v in [
            first_epoch as u64,
            self.iterations,
            lr.to_bits(),
            self.seed,
            self.shuffle_seed,
            u64::from(self.optimizer_built),
            self.weights.len() as u64,
            self.slots.len() as u64,
        ] {
            out.extend(v.to_le_bytes());
        }
        for var in self.weights.iter().chain(self.slots.iter()) {
            put_var(&mut out, var);
        }
        // A checkpoint's training state (position in the epoch, History,
        // callback states), so every rank continues from the same point and
        // its callbacks decide as rank 0's do.
        match &self.pending_resume {
            Some((state, tensors)) => {
                let json = state.to_json();
                out.extend((json.len() as u64 + 1).to_le_bytes());
                out.extend(json.as_bytes());
                out.extend((tensors.len() as u64).to_le_bytes());
                for var in tensors.iter() {
                    put_var(&mut out, var);
                }
            }
            None => out.extend(0u64.to_le_bytes()),
        }
        out
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<usize, String> {
        let mut r = Reader { bytes, at: 0 };
        let first_epoch = r.u64()? as usize;
        let (iterations, lr, seed, shuffle_seed) = (r.u64()?, f64::from_bits(r.u64()?), r.u64()?, r.u64()?);
        let optimizer_built = r.u64()? != 0;
        let (weights, slots) = (r.u64()? as usize, r.u64()? as usize);
        if weights != self.weights.len() {
            return Err(format!("rank 0 has {weights} variables, this rank {}", self.weights.len()));
        }
        if seed != self.seed {
            self.relower(seed).map_err(|e| e.to_string())?;
        }
        for i in 0..weights {
            let var = r.var()?;
            let ours = self.weights.at_mut(i);
            if var.name != ours.name || var.data.len() != ours.data.len() {
                return Err(format!("rank 0's variable `{}` does not match this rank's `{}`", var.name, ours.name));
            }
            ours.data = var.data;
        }
        let mut store = VarStore::new();
        for _ in 0..slots {
            store.insert(r.var()?).map_err(|e| e.to_string())?;
        }
        // Slots are rebound by name on the next graph preparation.
        self.reset_training_graphs();
        self.slots = store;
        self.pending_resume = match r.u64()? as usize {
            0 => None,
            n => {
                let json = String::from_utf8(r.take(n - 1)?.to_vec()).map_err(|_| "the training state is not UTF-8")?;
                let state = FitState::from_json(&json)?;
                let mut tensors = VarStore::new();
                for _ in 0..r.u64()? {
                    tensors.insert(r.var()?).map_err(|e| e.to_string())?;
                }
                Some((state, tensors))
            }
        };
        self.iterations = iterations;
        self.optimizer_built = optimizer_built;
        self.shuffle_seed = shuffle_seed;
        if let Some(c) = self.compiled.as_mut() {
            c.learning_rate = lr;
        }
        Ok(first_epoch)
    }
}

fn put_var(out: &mut Vec<u8>, var: &Variable) {
    out.extend((var.name.len() as u64).to_le_bytes());
    out.extend(var.name.as_bytes());
    out.push(u8::from(var.trainable));
    out.extend((var.shape.len() as u64).to_le_bytes());
    for d in &var.shape {
        out.extend((*d as u64).to_le_bytes());
    }
    out.extend((var.data.len() as u64).to_le_bytes());
    for v in &var.data {
        out.extend(v.to_le_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("the state message is truncated")?;
        let piece = &self.bytes[self.at..end];
        self.at = end;
        Ok(piece)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "the state message is truncated")?))
    }

    fn var(&mut self) -> Result<Variable, String> {
        let len = self.u64()? as usize;
        let name = String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "a variable name is not UTF-8")?;
        let trainable = self.take(1)?[0] != 0;
        let rank = self.u64()? as usize;
        let shape = (0..rank).map(|_| self.u64().map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
        let n = self.u64()? as usize;
        let data = self
            .take(n.checked_mul(4).ok_or("the state message is truncated")?)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Variable { name, shape, trainable, data })
    }
}
