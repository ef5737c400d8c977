"""Export the benchmark checkpoints to ONNX for onnxruntime-web (run by scripts/bench.sh, not by the tests).

The ONNX graphs are exported from the *same* safetensors our engine loads, with every layer's attention
probabilities as graph outputs (the app needs them, so onnxruntime-web must compute and return them too):

  bert: inputs input_ids, token_type_ids [1, seq] (int64) -> last_hidden_state, attn0..attn{L-1} [1, heads, seq, seq]
  clip: inputs input_ids [captions, seq] (int64), pixel_values [1, 3, 224, 224]
        -> logits_per_image, text_attn0.., vision_attn0..
  bert-mask, clip-mask: the same with an attention_mask input too (int64, shaped as input_ids; the bench feeds all
        ones): a second, independently traced graph, since the exporter's graph (and what onnxruntime's optimiser
        fuses in it) changes with the mask; the benchmark takes the faster of the two.

Usage: python scripts/export_onnx.py bert|bert-mask MODEL_DIR OUT.onnx
       python scripts/export_onnx.py clip|clip-mask MODEL_DIR OUT.onnx
The file is written to OUT.onnx.part and renamed, so a half-written export never looks present.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
import transformers  # noqa: E402

OPSET = 17


def load_weights(model, model_dir, prefixes=("", "bert.")):
    state = load_file(os.path.join(model_dir, "model.safetensors"))
    own = model.state_dict()
    fixed = {}
    for name, tensor in state.items():
        for p in prefixes:
            if p and name.startswith(p):
                name = name[len(p):]
        if name in own:
            fixed[name] = tensor.float()
    missing = [k for k in own if k not in fixed and not k.endswith("position_ids")]
    if missing:
        raise SystemExit(f"{model_dir}: no weights for {missing[:5]}...")
    model.load_state_dict(fixed, strict=False)


class BertWithAttentions(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids):
        out = self.model(input_ids=input_ids, token_type_ids=token_type_ids, output_attentions=True, return_dict=True)
        return (out.last_hidden_state, *out.attentions)


class BertWithMask(BertWithAttentions):
    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         output_attentions=True, return_dict=True)
        return (out.last_hidden_state, *out.attentions)


class ClipWithAttentions(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, pixel_values):
        out = self.model(input_ids=input_ids, pixel_values=pixel_values, output_attentions=True, return_dict=True)
        return (out.logits_per_image, *out.text_model_output.attentions, *out.vision_model_output.attentions)


class ClipWithMask(ClipWithAttentions):
    def forward(self, input_ids, attention_mask, pixel_values):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                         output_attentions=True, return_dict=True)
        return (out.logits_per_image, *out.text_model_output.attentions, *out.vision_model_output.attentions)


def export(kind, model_dir, out_path):
    torch.manual_seed(0)
    with open(os.path.join(model_dir, "config.json")) as f:
        raw = json.load(f)
    name, masked = kind, kind.endswith("-mask")
    kind = kind.removesuffix("-mask")
    if kind == "bert":
        config = transformers.BertConfig(**{k: v for k, v in raw.items() if k != "architectures"})
        config._attn_implementation = "eager"  # eager attention is the one that can return probabilities
        model = transformers.BertModel(config, add_pooling_layer=False).eval()
        load_weights(model, model_dir)
        wrapper = (BertWithMask if masked else BertWithAttentions)(model)
        layers = config.num_hidden_layers
        n = 16
        args = (torch.full((1, n), 1000, dtype=torch.long), torch.zeros((1, n), dtype=torch.long))
        inputs = ["input_ids", "token_type_ids"]
        outputs = ["last_hidden_state"] + [f"attn{i}" for i in range(layers)]
        dynamic = {"input_ids": {1: "seq"}, "token_type_ids": {1: "seq"}, "last_hidden_state": {1: "seq"}}
        dynamic.update({f"attn{i}": {2: "seq", 3: "seq"} for i in range(layers)})
    elif kind == "clip":
        config = transformers.CLIPConfig.from_pretrained(model_dir)
        config._attn_implementation = "eager"
        config.text_config._attn_implementation = "eager"
        config.vision_config._attn_implementation = "eager"
        model = transformers.CLIPModel(config).eval()
        load_weights(model, model_dir, prefixes=("",))
        wrapper = (ClipWithMask if masked else ClipWithAttentions)(model)
        tl, vl = config.text_config.num_hidden_layers, config.vision_config.num_hidden_layers
        ids = torch.full((2, 7), 320, dtype=torch.long)
        ids[:, 0] = 49406
        ids[:, -1] = 49407
        args = (ids, torch.zeros((1, 3, 224, 224)))
        inputs = ["input_ids", "pixel_values"]
        outputs = ["logits_per_image"] + [f"text_attn{i}" for i in range(tl)] + [f"vision_attn{i}" for i in range(vl)]
        dynamic = {"input_ids": {0: "captions", 1: "seq"}, "logits_per_image": {1: "captions"}}
        dynamic.update({f"text_attn{i}": {0: "captions", 2: "seq", 3: "seq"} for i in range(tl)})
    else:
        raise SystemExit(f"unknown kind {kind} (bert, bert-mask, clip or clip-mask)")
    if masked:
        args = (args[0], torch.ones_like(args[0]), args[1])
        inputs = [inputs[0], "attention_mask", inputs[1]]
        dynamic["attention_mask"] = dict(dynamic["input_ids"])
    tmp = out_path + ".part"
    with torch.no_grad():
        # The TorchScript exporter: one self-contained file (< 2 GB) with dynamic axes that onnxruntime-web reads.
        torch.onnx.export(wrapper, args, tmp, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    os.replace(tmp, out_path)
    print(f"export_onnx: {name} {model_dir} -> {out_path} ({os.path.getsize(out_path) / 1e6:.0f} MB)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    export(*sys.argv[1:])
