"""Training of SuperResolution3D generators: one loop (``trainer.Trainer``) with a stage per subclass
(``L1Trainer``, ``gan.GANTrainer``), one runner (``run.run_training``) and the model export."""
