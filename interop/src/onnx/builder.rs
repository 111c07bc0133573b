//! Small helpers to build ONNX protobuf values: nodes with attributes,
//! initializers, value infos with a symbolic batch dimension.

use nn_compiler::ir::{DType, Dim, Shape};

use super::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

pub const OPSET: i64 = 17;
pub const BATCH: &str = "batch";

pub fn elem(d: DType) -> i32 {
    match d {
        DType::F32 => DataType::Float as i32,
        DType::I32 => DataType::Int32 as i32,
    }
}

pub fn value_info(name: &str, dtype: DType, shape: &Shape) -> ValueInfoProto {
    let dim = shape
        .0
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Batch => tensor_shape_proto::dimension::Value::DimParam(BATCH.to_string()),
                Dim::Known(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem(dtype),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: vec![data.len() as i64],
        data_type: DataType::Int64 as i32,
        raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Graph(GraphProto),
}

pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> NodeProto {
    NodeProto {
        op_type: op.to_string(),
        name: name.to_string(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = AttributeProto { name: n.to_string(), ..Default::default() };
                match a {
                    Attr::Int(i) => {
                        p.r#type = AttributeType::Int as i32;
                        p.i = i;
                    }
                    Attr::Ints(v) => {
                        p.r#type = AttributeType::Ints as i32;
                        p.ints = v;
                    }
                    Attr::Graph(g) => {
                        p.r#type = AttributeType::Graph as i32;
                        p.g = Some(g);
                    }
                }
                p
            })
            .collect(),
        ..Default::default()
    }
}
