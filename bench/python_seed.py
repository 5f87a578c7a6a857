#!/usr/bin/env python3
"""Peer program for the seed benchmark: the seed seq2seq translator (LSTM encoder-decoder, no attention) and
its training loop, reproduced in plain PyTorch (Debian's python3-torch, torch 1.13).

  python3 bench/python_seed.py --train TRAIN.tsv --test TEST.tsv [--minutes M] [--epochs E]
      [--batch-size 64] [--embed 64] [--hidden 128] [--layers 1] [--threads 2]
      [--decode-sentences 500] [--seed 42] [--out-hyp FILE]
  python3 bench/python_seed.py --toy      # self-check on the seed's five toy pairs

TSV lines are source<TAB>target, whitespace-tokenised. Training runs until the wall-clock budget (checked
between batches) or E epochs, whichever comes first; throughput counts real target tokens (non-pad labels:
words + <EOS>) over the time spent in training steps only. Then the first N test sentences are decoded
greedily one at a time. Progress goes to stderr; stdout gets one JSON line.
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
except ImportError:  # python3 on PATH may be a pyenv build without Debian's dist-packages
    if os.path.exists('/usr/bin/python3') and os.path.realpath(sys.executable) != os.path.realpath('/usr/bin/python3') \
            and not os.environ.get('PYTHON_SEED_REEXEC'):
        os.environ['PYTHON_SEED_REEXEC'] = '1'
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    sys.exit('python_seed: torch not found; apt-get install -y python3-torch')
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ['<PAD>', '<SOS>', '<EOS>', '<UNK>']

TOY_PAIRS = [
    ('我 爱 自然 语言 处理', 'I love natural language processing'),
    ('今天 天气 很 好', 'Today weather is good'),
    ('机器 学习 很 有趣', 'Machine learning is interesting'),
    ('深度 学习 很 强大', 'Deep learning is powerful'),
    ('人工 智能 改变 世界', 'AI changes the world'),
]


def log(*args):
    print('python_seed:', *args, file=sys.stderr, flush=True)


class Vocab:
    """ids 0-3 are <PAD> <SOS> <EOS> <UNK>; words follow in order of first appearance."""

    def __init__(self, sentences):
        self.itos = list(SPECIALS)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        for s in sentences:
            for w in s.split():
                if w not in self.stoi:
                    self.stoi[w] = len(self.itos)
                    self.itos.append(w)

    def __len__(self):
        return len(self.itos)

    def encode(self, sentence):
        return [self.stoi.get(w, UNK) for w in sentence.split()]

    def decode(self, ids):
        return ' '.join(self.itos[i] for i in ids if i > EOS)


class Encoder(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)

    def forward(self, src, lengths):
        packed = pack_padded_sequence(self.embedding(src), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, c) = self.lstm(packed)
        return h, c


class Decoder(nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tgt_in, state):
        output, state = self.lstm(self.embedding(tgt_in), state)
        return self.out(output), state


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, embed, hidden, layers):
        super().__init__()
        self.encoder = Encoder(src_vocab, embed, hidden, layers)
        self.decoder = Decoder(tgt_vocab, embed, hidden, layers)

    def forward(self, src, lengths, tgt_in):
        logits, _ = self.decoder(tgt_in, self.encoder(src, lengths))
        return logits

    @torch.no_grad()
    def greedy(self, src_ids):
        src = torch.tensor([src_ids], dtype=torch.long)
        state = self.encoder(src, torch.tensor([len(src_ids)]))
        token = torch.tensor([[SOS]], dtype=torch.long)
        out = []
        for _ in range(2 * len(src_ids) + 10):
            logits, state = self.decoder(token, state)
            nxt = int(logits[0, -1].argmax())
            if nxt == EOS:
                break
            out.append(nxt)
            token = torch.tensor([[nxt]], dtype=torch.long)
        return [i for i in out if i > EOS]


def read_tsv(path):
    pairs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) >= 2 and parts[0].split() and parts[1].split():
                pairs.append((parts[0], parts[1]))
    return pairs


def collate(batch):
    """batch of (src_ids, tgt_ids) -> src [B,S], lengths [B], tgt [B,T] with tgt = <SOS> ids <EOS>, 0-padded."""
    srcs = [s for s, _ in batch]
    tgts = [[SOS] + t + [EOS] for _, t in batch]
    src = torch.zeros(len(batch), max(map(len, srcs)), dtype=torch.long)
    tgt = torch.zeros(len(batch), max(map(len, tgts)), dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
    return src, torch.tensor([len(s) for s in srcs]), tgt


def train(model, data, batch_size, epochs, minutes, log_every=100):
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    model.train()
    budget = minutes * 60 if minutes else None
    start = time.perf_counter()
    step_seconds = 0.0
    steps = tokens = 0
    loss_value = float('nan')
    epochs_done = 0.0
    out_of_time = False
    for epoch in range(epochs if epochs else 1 << 30):
        for b, (src, lengths, tgt) in enumerate(loader):
            if budget is not None and time.perf_counter() - start >= budget:
                out_of_time = True
                break
            t0 = time.perf_counter()
            tgt_in, labels = tgt[:, :-1], tgt[:, 1:]
            logits = model(src, lengths, tgt_in)
            loss = criterion(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_value = loss.item()
            step_seconds += time.perf_counter() - t0
            steps += 1
            tokens += int((labels != PAD).sum())
            epochs_done = epoch + (b + 1) / len(loader)
            if log_every and steps % log_every == 0:
                log(f'epoch {epochs_done:.3f} step {steps} loss {loss_value:.4f} '
                    f'{tokens / step_seconds:.0f} tgt tok/s')
        if out_of_time:
            break
        if log_every:
            log(f'epoch {epoch + 1} done: step {steps} loss {loss_value:.4f}')
    return {'steps': steps, 'tokens': tokens, 'seconds': step_seconds, 'epochs': epochs_done, 'loss': loss_value}


def toy():
    torch.manual_seed(42)
    src_vocab = Vocab(s for s, _ in TOY_PAIRS)
    tgt_vocab = Vocab(t for _, t in TOY_PAIRS)
    data = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in TOY_PAIRS]
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), 64, 128, 1)
    stats = train(model, data, batch_size=2, epochs=50, minutes=None, log_every=0)
    log(f'toy: 50 epochs, {stats["steps"]} steps, final loss {stats["loss"]:.4f}')
    model.eval()
    ok = True
    for s, t in TOY_PAIRS[:2]:
        hyp = tgt_vocab.decode(model.greedy(src_vocab.encode(s)))
        print(f'{s} -> {hyp}')
        ok &= hyp == t
    print('toy check:', 'OK' if ok else 'MISMATCH')
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train')
    p.add_argument('--test')
    p.add_argument('--minutes', type=float, default=None)
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--embed', type=int, default=64)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--layers', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--decode-sentences', type=int, default=500)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--out-hyp')
    p.add_argument('--toy', action='store_true', help="train on the seed's five toy pairs and check two translations")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    if a.toy:
        return toy()
    if not a.train or not a.test:
        p.error('--train and --test are required (or --toy)')
    if a.minutes is None and a.epochs is None:
        p.error('give --minutes and/or --epochs')

    torch.manual_seed(a.seed)
    train_pairs = read_tsv(a.train)
    test_pairs = read_tsv(a.test)
    src_vocab = Vocab(s for s, _ in train_pairs)
    tgt_vocab = Vocab(t for _, t in train_pairs)
    data = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in train_pairs]
    log(f'{len(data)} training pairs, src vocab {len(src_vocab)}, tgt vocab {len(tgt_vocab)}, '
        f'threads {torch.get_num_threads()}')
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), a.embed, a.hidden, a.layers)
    stats = train(model, data, a.batch_size, a.epochs, a.minutes)
    log(f'trained {stats["steps"]} steps ({stats["epochs"]:.3f} epochs) in {stats["seconds"]:.1f}s of steps, '
        f'final loss {stats["loss"]:.4f}')

    model.eval()
    sources = [s for s, _ in test_pairs[:a.decode_sentences]]
    hyps = []
    t0 = time.perf_counter()
    for s in sources:
        hyps.append(tgt_vocab.decode(model.greedy(src_vocab.encode(s))))
    decode_seconds = time.perf_counter() - t0
    log(f'decoded {len(hyps)} sentences in {decode_seconds:.2f}s')
    if a.out_hyp:
        with open(a.out_hyp, 'w', encoding='utf-8') as f:
            f.writelines(h + '\n' for h in hyps)

    print(json.dumps({
        'train_target_tokens_per_second': round(stats['tokens'] / stats['seconds'], 1) if stats['seconds'] else 0.0,
        'train_seconds': round(stats['seconds'], 3),
        'epochs': round(stats['epochs'], 4),
        'steps': stats['steps'],
        'final_loss': round(stats['loss'], 4),
        'decode_sentences_per_second_batch1': round(len(hyps) / decode_seconds, 2) if decode_seconds else 0.0,
        'decoded': len(hyps),
        'src_vocab': len(src_vocab),
        'tgt_vocab': len(tgt_vocab),
        'threads': torch.get_num_threads(),
    }), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
