// Every examples/*.nn file builds through include_model!, and the generated
// constants agree with the parameter counts stated in each file's comments.

mod boston { nn::include_model!("examples/boston.nn"); }
mod boston_norm { nn::include_model!("examples/boston_norm.nn"); }
mod digits_mlp { nn::include_model!("examples/digits_mlp.nn"); }
mod digits_mlp_mnist { nn::include_model!("examples/digits_mlp_mnist.nn"); }
mod fashion_cnn { nn::include_model!("examples/fashion_cnn.nn"); }
mod fashion_cnn_bn { nn::include_model!("examples/fashion_cnn_bn.nn"); }
mod fashion_mlp { nn::include_model!("examples/fashion_mlp.nn"); }
mod fashion_mlp_dropout { nn::include_model!("examples/fashion_mlp_dropout.nn"); }
mod imdb { nn::include_model!("examples/imdb.nn"); }
mod imdb_conv1d { nn::include_model!("examples/imdb_conv1d.nn"); }
mod imdb_bilstm { nn::include_model!("examples/imdb_bilstm.nn"); }
mod imdb_lstm { nn::include_model!("examples/imdb_lstm.nn"); }
mod iris { nn::include_model!("examples/iris.nn"); }
mod mlp6 { nn::include_model!("examples/mlp6.nn"); }
mod mlp6_logits { nn::include_model!("examples/mlp6_logits.nn"); }
mod mnist_logreg { nn::include_model!("examples/mnist_logreg.nn"); }
mod mnist_logreg_digits { nn::include_model!("examples/mnist_logreg_digits.nn"); }
mod reuters { nn::include_model!("examples/reuters.nn"); }
mod reuters_gru { nn::include_model!("examples/reuters_gru.nn"); }

fn main() {
    assert_eq!(boston::Boston::PARAM_COUNT, 5_121);
    assert_eq!(boston::Boston::OUTPUT_SHAPE, [1]);
    assert_eq!(digits_mlp::DigitsMlp::PARAM_COUNT, 9_610);
    assert_eq!(digits_mlp_mnist::DigitsMlpMnist::PARAM_COUNT, 101_770);
    assert_eq!(fashion_cnn::FashionCnn::PARAM_COUNT, 121_930);
    assert_eq!(fashion_cnn::FashionCnn::INPUT_SHAPE, [28, 28]);
    assert_eq!(fashion_cnn_bn::FashionCnnBn::PARAM_COUNT, 422_026);
    assert_eq!(fashion_cnn_bn::FashionCnnBn::TRAINABLE_PARAM_COUNT, 421_834);
    assert_eq!(boston_norm::BostonNorm::PARAM_COUNT, 5_148);
    assert_eq!(boston_norm::BostonNorm::TRAINABLE_PARAM_COUNT, 5_121);
    assert_eq!(fashion_mlp::FashionMlp::PARAM_COUNT, 101_770);
    assert_eq!(fashion_mlp_dropout::FashionMlpDropout::PARAM_COUNT, 242_762);
    assert_eq!(imdb::Imdb::PARAM_COUNT, 160_305);
    assert_eq!(imdb_conv1d::ImdbConv1d::PARAM_COUNT, 334_433);
    assert_eq!(imdb_conv1d::ImdbConv1d::INPUT_SHAPE, [200]);
    assert_eq!(imdb_lstm::ImdbLstm::PARAM_COUNT, 328_353);
    assert_eq!(imdb_lstm::ImdbLstm::INPUT_SHAPE, [200]);
    assert_eq!(imdb_bilstm::ImdbBilstm::PARAM_COUNT, 336_705);
    assert_eq!(iris::Iris::PARAM_COUNT, 15);
    assert_eq!(mlp6::Mlp6::PARAM_COUNT, 576_810);
    assert_eq!(mlp6_logits::Mlp6Logits::PARAM_COUNT, 576_810);
    assert_eq!(mnist_logreg::MnistLogreg::PARAM_COUNT, 7_850);
    assert_eq!(mnist_logreg_digits::MnistLogregDigits::PARAM_COUNT, 650);
    assert_eq!(reuters::Reuters::PARAM_COUNT, 647_214);
    assert_eq!(reuters_gru::ReutersGru::PARAM_COUNT, 657_262);
    assert_eq!(reuters::Reuters::OUTPUT_SHAPE, [46]);

    // The typed API is usable: one prediction through the runtime.
    let mut m = fashion_cnn::FashionCnn::new(0).expect("builds");
    let probs: [f32; 10] = m.predict_one(&[[0.5; 28]; 28]).expect("predicts");
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}
