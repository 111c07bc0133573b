//! How a model runs its graphs: building each graph kind from the lowered
//! model and its training configuration, binding its variables (weights by
//! name, optimizer slots created on first use), and calling the engine with
//! a call's data bound by input role.

use super::*;

impl Model {
    pub(crate) fn graph_for(&self, kind: GraphKind) -> Result<Graph, RuntimeError> {
        let compile_err = |e: train::TrainError| RuntimeError::Compile(e.to_string());
        Ok(match kind {
            GraphKind::Predict => self.infer.graph.clone(),
            GraphKind::TrainStep => {
                train::training_step(&self.train, &self.compiled_ref()?.config).map_err(compile_err)?
            }
            GraphKind::Evaluate => train::evaluation(&self.infer, &self.compiled_ref()?.config).map_err(compile_err)?,
            GraphKind::WeightedTrainStep => {
                train::weighted_training_step(&self.train, &self.compiled_ref()?.config).map_err(compile_err)?
            }
            GraphKind::WeightedEvaluate => {
                train::weighted_evaluation(&self.infer, &self.compiled_ref()?.config).map_err(compile_err)?
            }
            GraphKind::Gradients => train::gradients(&self.train, &self.compiled_ref()?.config).map_err(compile_err)?,
            GraphKind::ApplyGradients => {
                train::apply_gradients(&self.train.graph.vars, &self.compiled_ref()?.config.optimizer)
                    .map_err(compile_err)?
            }
            GraphKind::FinalizeVariables => {
                train::finalize_variables(&self.train.graph.vars, &self.compiled_ref()?.config.optimizer)
                    .map_err(compile_err)?
            }
            GraphKind::ShardGradients | GraphKind::WeightedShardGradients => {
                let weighted = kind == GraphKind::WeightedShardGradients;
                train::shard_gradients(&self.train, &self.compiled_ref()?.config, weighted).map_err(compile_err)?
            }
            GraphKind::ApplyFlatGradients => {
                train::apply_flat_gradients(&self.train.graph.vars, &self.compiled_ref()?.config.optimizer)
                    .map_err(compile_err)?
            }
            GraphKind::Adapt(mean_var) => crate::adapt::probe(&self.infer.graph, mean_var as usize)?.graph,
        })
    }

    fn insert_prepared(&mut self, kind: GraphKind, graph: Graph) -> Result<(), RuntimeError> {
        let mut bindings = Vec::with_capacity(graph.vars.len());
        for decl in &graph.vars {
            let slot = if let VarKind::Slot { .. } = decl.kind {
                match self.slots.position(&decl.name) {
                    Some(i) => Slot::Optimizer(i),
                    None => {
                        let data = initialize(&decl.init, &decl.shape, var_seed(self.seed, &decl.name))?;
                        let var =
                            Variable { name: decl.name.clone(), shape: decl.shape.clone(), trainable: false, data };
                        Slot::Optimizer(self.slots.insert(var)?)
                    }
                }
            } else {
                let i = self.weights.position(&decl.name).ok_or_else(|| {
                    RuntimeError::Engine(format!(
                        "graph variable `{}` is not a variable of model `{}`",
                        decl.name, self.name
                    ))
                })?;
                Slot::Weight(i)
            };
            let stored = match slot {
                Slot::Weight(i) => self.weights.at(i),
                Slot::Optimizer(i) => self.slots.at(i),
            };
            if stored.shape != decl.shape {
                return Err(RuntimeError::Engine(format!(
                    "variable `{}` is stored with shape {:?} but the graph declares {:?}",
                    decl.name, stored.shape, decl.shape
                )));
            }
            bindings.push(slot);
        }
        let exe = self.engine.prepare(&graph)?;
        self.cache.insert(kind, Prepared { graph, exe, bindings });
        Ok(())
    }

    pub(crate) fn ensure_prepared(&mut self, kind: GraphKind) -> Result<&Graph, RuntimeError> {
        if !self.cache.contains_key(&kind) {
            let graph = self.graph_for(kind)?;
            self.insert_prepared(kind, graph)?;
        }
        Ok(&self.cache[&kind].graph)
    }

    /// Bytes of intermediates per batch row of `kind`'s prepared graph, when
    /// its engine knows them.
    pub(crate) fn intermediate_bytes_per_row(&mut self, kind: GraphKind) -> Result<Option<usize>, RuntimeError> {
        self.ensure_prepared(kind)?;
        Ok(self.cache[&kind].exe.intermediate_bytes_per_row())
    }

    /// Binds per-call data to `kind`'s inputs by role (gradient inputs by name).
    pub(crate) fn run_kind(
        &mut self,
        kind: GraphKind,
        data: &CallData<'_>,
        batch: usize,
    ) -> Result<Vec<ArrayD<f32>>, RuntimeError> {
        self.ensure_prepared(kind)?;
        let lr = [data.learning_rate];
        let step = [data.step];
        let prepared = self.cache.get_mut(&kind).unwrap_or_else(|| unreachable!("prepared above"));
        // Integer model inputs (token ids) arrive as f32 features; they must be whole numbers.
        let mut x_i32: Vec<Vec<i32>> = Vec::new();
        let features =
            prepared.graph.inputs.iter().filter(|d| d.role == InputRole::Feature && !d.name.starts_with("grad:"));
        for (decl, x) in features.zip(data.x) {
            if decl.ty.dtype != DType::I32 {
                x_i32.push(Vec::new());
                continue;
            }
            let ids = x
                .iter()
                .map(|&v| {
                    if v.is_finite() && v.fract() == 0.0 && v.abs() < 2_147_483_648.0 {
                        Ok(v as i32)
                    } else {
                        Err(RuntimeError::invalid(format!(
                            "input `{}` takes integer ids but the features hold {v}; pass whole numbers",
                            decl.name
                        )))
                    }
                })
                .collect::<Result<_, _>>()?;
            x_i32.push(ids);
        }
        let missing =
            |what: &str, name: &str| RuntimeError::Engine(format!("no {what} data was bound for graph input `{name}`"));
        let (mut feature, mut target, mut weight) = (0, 0, 0);
        let mut inputs = Vec::with_capacity(prepared.graph.inputs.len());
        for decl in &prepared.graph.inputs {
            let t = if let Some(var) = decl.name.strip_prefix("grad:") {
                let (_, g) = data.grads.iter().find(|(n, _)| n == var).ok_or_else(|| {
                    RuntimeError::invalid(format!("no gradient was given for trainable variable `{var}`"))
                })?;
                Tensor::F32(g.as_slice())
            } else {
                match decl.role {
                    InputRole::Feature => {
                        let k = feature;
                        feature += 1;
                        match decl.ty.dtype {
                            DType::I32 => Tensor::I32(x_i32.get(k).ok_or_else(|| missing("feature", &decl.name))?),
                            DType::F32 => Tensor::F32(data.x.get(k).ok_or_else(|| missing("feature", &decl.name))?),
                        }
                    }
                    InputRole::Target => {
                        let buf = data.y.get(target).ok_or_else(|| missing("target", &decl.name))?;
                        target += 1;
                        match decl.ty.dtype {
                            DType::I32 => Tensor::I32(&buf.i32),
                            DType::F32 => Tensor::F32(&buf.f32),
                        }
                    }
                    InputRole::LearningRate => Tensor::F32(&lr),
                    InputRole::Step => Tensor::F32(&step),
                    InputRole::SampleWeight => {
                        let k = weight;
                        weight += 1;
                        match data.sample_weights.get(k) {
                            Some(w) => Tensor::F32(w),
                            None => Tensor::F32(&data.ones[..batch.min(data.ones.len())]),
                        }
                    }
                }
            };
            inputs.push(t);
        }
        let positions: Vec<(bool, usize)> = prepared
            .bindings
            .iter()
            .map(|s| match *s {
                Slot::Weight(i) => (true, i),
                Slot::Optimizer(i) => (false, i),
            })
            .collect();
        let mut buffers: Vec<Vec<f32>> = positions
            .iter()
            .map(|&(w, i)| {
                std::mem::take(if w { &mut self.weights.at_mut(i).data } else { &mut self.slots.at_mut(i).data })
            })
            .collect();
        let result = prepared.exe.run(&inputs, &mut buffers, batch);
        for (&(w, i), buf) in positions.iter().zip(buffers) {
            if w {
                self.weights.at_mut(i).data = buf;
            } else {
                self.slots.at_mut(i).data = buf;
            }
        }
        result
    }

    /// Drops every prepared graph that binds optimizer slots, so they are
    /// rebound (by name) on next use.
    pub(crate) fn reset_training_graphs(&mut self) {
        self.cache.retain(|k, _| matches!(k, GraphKind::Predict | GraphKind::Adapt(_)));
    }

    /// Marks one optimizer update as applied.
    pub(crate) fn count_update(&mut self) {
        self.iterations += 1;
        self.optimizer_built = true;
    }
}
