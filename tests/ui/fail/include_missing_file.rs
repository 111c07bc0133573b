// A missing file names the path that was tried.

nn::include_model!("tests/ui/models/does_not_exist.nn");

fn main() {}
