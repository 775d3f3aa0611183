// sources:
/* seed_hfconfig.c: writes fuzz_hfconfig inputs into the corpus folder
 * argv[1]: a mode byte (see fuzz_hfconfig.c) and a file as Hugging Face
 * ships it: CLIP and Chinese-CLIP, BERT and ViT config.json (abridged),
 * CLIP's and ViT's preprocessor_config.json, a vocab.txt and merges. */
#include "seed_write.h"

static const char *const seeds[] = {
    ("\0{\"architectures\": [\"CLIPModel\"], \"projection_dim\": 512, \"logit_scale_init_value\": 2.6592,"
     " \"text_config\": {\"hidden_size\": 512, \"intermediate_size\": 2048, \"num_attention_heads\": 8,"
     " \"num_hidden_layers\": 12, \"max_position_embeddings\": 77, \"vocab_size\": 49408, \"hidden_act\":"
     " \"quick_gelu\", \"layer_norm_eps\": 1e-05, \"eos_token_id\": 2}, \"vision_config\": {\"hidden_size\": 768,"
     " \"intermediate_size\": 3072, \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"image_size\": 224,"
     " \"patch_size\": 32, \"hidden_act\": \"quick_gelu\"}}"),
    ("\4{\"architectures\": [\"ChineseCLIPModel\"], \"projection_dim\": 512, \"text_config\": {\"hidden_size\": 768,"
     " \"intermediate_size\": 3072, \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"vocab_size\": 21128,"
     " \"max_position_embeddings\": 512, \"type_vocab_size\": 2, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12,"
     " \"pad_token_id\": 0}, \"vision_config\": {\"hidden_size\": 768, \"intermediate_size\": 3072,"
     " \"num_attention_heads\": 12, \"num_hidden_layers\": 12, \"image_size\": 224, \"patch_size\": 16}}"),
    ("\0{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": 312, \"num_hidden_layers\": 4,"
     " \"num_attention_heads\": 12, \"intermediate_size\": 1200, \"vocab_size\": 21128, \"max_position_embeddings\":"
     " 512, \"type_vocab_size\": 2, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0,"
     " \"position_embedding_type\": \"absolute\", \"sail_pool\": \"mean\"}"),
    ("\0{\"architectures\": [\"ViTModel\"], \"model_type\": \"vit\", \"hidden_size\": 192, \"num_hidden_layers\": 12,"
     " \"num_attention_heads\": 3, \"intermediate_size\": 768, \"image_size\": 224, \"patch_size\": 16,"
     " \"num_channels\": 3, \"qkv_bias\": true, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12}"),
    ("\1{\"crop_size\": {\"height\": 224, \"width\": 224}, \"do_center_crop\": true, \"do_normalize\": true,"
     " \"do_resize\": true, \"image_mean\": [0.48145466, 0.4578275, 0.40821073], \"image_std\": [0.26862954,"
     " 0.26130258, 0.27577711], \"resample\": 3, \"rescale_factor\": 0.00392156862745098, \"size\":"
     " {\"shortest_edge\": 224}}"),
    ("\5{\"do_normalize\": true, \"do_resize\": true, \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5],"
     " \"resample\": 2, \"size\": 224}"),
    "\2[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\nhello\nworld\n,\n!\ncafe\n##e\n\xE4\xB8\xAD\n\xE6\x96\x87\na\nphoto\nof\n2\ncat\n##s\n",
    "\3#version: 0.2\nh e\nl l\nhe ll\nw o\nr l\nd</w>\nc a\nt s</w>\nca ts</w>\n",
};

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed_write_all(argv[1], seeds, sizeof seeds / sizeof *seeds, 1);
}
