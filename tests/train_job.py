"""A small training job for the kill-and-resume test: trains an MLP on real digits with frequent checkpoints.
Usage: python train_job.py CHECKPOINT_DIR WEIGHTS_OUT"""
import sys
import torch
from geonb.core import seed_everything
from geonb.data import load_dataset
from geonb.runs import save_weights
from geonb.train import Learner, TrainConfig

ckpt, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
seed_everything(0)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(256, 10))
cfg = TrainConfig(epochs=6, batch_size=16, lr=2e-3, checkpoint_every=7, progress=False, select_split='none')  # digits has no valid split
learner = Learner(model, load_dataset('digits', size=28), cfg, checkpoint_dir=ckpt)
learner.fit()
save_weights(out, learner.model.state_dict())
print('finished', learner.status, learner.step)
