// The named model must exist in the file.

nn::include_model!("tests/ui/models/two_models.nn", "larg");

fn main() {}
