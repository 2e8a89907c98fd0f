"""Face anonymizers: conventional methods, GANs (gan/), and the dataset engine (apply)."""
