// include_model! takes a string literal.

nn::include_model!(examples / iris.nn);

fn main() {}
