// Errors in an included file point at the path literal and show the file's lines.

nn::include_model!("tests/ui/models/bad_shape.nn");

fn main() {}
