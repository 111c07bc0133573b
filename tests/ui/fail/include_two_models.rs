// A file with several models needs the model's name.

nn::include_model!("tests/ui/models/two_models.nn");

fn main() {}
