"""Common Transfer Files: checking, the S2S hub role and the Lost Pupils Database."""
