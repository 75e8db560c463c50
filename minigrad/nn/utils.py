"""nn.utils: gradient clipping lives in minigrad.optim.clip; it is reachable here as in PyTorch."""


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    from ..optim.clip import clip_grad_norm_ as clip

    return clip(parameters, max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    from ..optim.clip import clip_grad_value_ as clip

    return clip(parameters, clip_value)
