build2/obj/policies/policy_learn.o: policies/policy_learn.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
