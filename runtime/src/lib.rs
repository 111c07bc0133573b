//! nn's runtime: drives compiled models the way Keras users expect.
