"""The building blocks of params.yaml's schema, below every component: the strict base model,
shared value types, cross-field errors that name their key, and experiment naming.

Each component (dataset builder, training method, eval, callback, backend) declares its own
params model with these; `inoclab.config` assembles them into the model of the whole file.
"""
