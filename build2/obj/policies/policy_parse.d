build2/obj/policies/policy_parse.o: policies/policy_parse.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
