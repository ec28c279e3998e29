"""Token models shared by every discrete domain (text, the synthetic oracle, music as tokens).

The LSTM and relational-memory generators, their sampler (categorical, Gumbel-softmax,
rollouts), RelGAN's multi-representation CNN discriminator and the teacher-forced
``nll-test`` metric depend only on a ``DomainSpec`` with a vocabulary, never on what the
tokens mean, so they live here rather than under any one domain.
"""
